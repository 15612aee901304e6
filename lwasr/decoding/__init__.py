"""Decoding: systems (base, full, shared LoRA, language experts), language ID, batched search, resumable output.

Entry point: :func:`lwasr.decoding.search.decode_cuts`; the CLI is ``lwasr decode`` (lwasr/cli/decode.py).
"""
