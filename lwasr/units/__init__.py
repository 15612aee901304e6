"""Model units: the directories lwasr reads and writes as models, and the one way each is loaded.

The layer between the data and the stages (training, decoding, scoring) and methods (fusion, distillation,
expansion): everything here depends only on the core modules (``lwasr.models``, ``lwasr.errors`` ...).

- :mod:`lwasr.units.meta`: ``lwasr.json`` (:class:`~lwasr.units.meta.ModelMeta`), the LoRA shape it records, the base
  fingerprint.
- :mod:`lwasr.units.base`: the one base-Whisper loader (and the peft warning filter around wrapping).
- :mod:`lwasr.units.experts`: experts on disk: discovery, loading, attaching, their LoRA factors.
- :mod:`lwasr.units.prompt`: decoder prompts, and new languages that borrow another language's token.
- :mod:`lwasr.units.mixture`: weighted mixtures of LoRA adapters (soft routing, learned fusion, LoRA-MoE).
- :mod:`lwasr.units.kinds`: the registry of unit kinds (base, full, lora, experts, moe, router) and their loaders.
"""
