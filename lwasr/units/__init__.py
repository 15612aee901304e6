"""Model units: the directories lwasr reads and writes as models, and the one way each is loaded.

The layer between the data and the stages (training, decoding, scoring) and methods (fusion, distillation,
expansion): everything here depends only on the core modules (``lwasr.models``, ``lwasr.errors`` ...).

- :mod:`lwasr.units.meta`: ``lwasr.json`` (:class:`~lwasr.units.meta.ModelMeta`) and the base fingerprint.
- :mod:`lwasr.units.base`: the one base-Whisper loader (and the peft warning filter around wrapping).
- :mod:`lwasr.units.experts`: experts on disk: discovery, loading, attaching, their LoRA factors.
- :mod:`lwasr.units.prompt`: decoder prompts, and new languages that borrow another language's token.
- :mod:`lwasr.units.kinds`: the registry of unit kinds (base, full, lora, experts, moe) and their loaders.
"""
