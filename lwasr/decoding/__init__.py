"""Decoding: systems (base, full, shared LoRA, language experts), language ID, batched search, resumable output.

Entry points: :func:`lwasr.decoding.command.plan` and :func:`~lwasr.decoding.command.run` (``lwasr decode``,
lwasr/cli/decode.py), and the decode loop :func:`lwasr.decoding.search.decode_cuts` under them.
"""
