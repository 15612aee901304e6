"""Data preparation (`lwasr prepare`): Lhotse manifests for FLEURS, MLS, Common Voice, any folder, espeak-ng speech.

The manifest contract (see docs/data.md): one CutSet per (corpus, language, split) at
``<root>/manifests/<corpus>_<lang>_<split>_cuts.jsonl.gz``, built through :mod:`lwasr.data.manifests`.
"""
