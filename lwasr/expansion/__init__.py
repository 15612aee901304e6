"""Adding a language without forgetting (issue #7): LID similarity, warm start, LoRA-MoE, forgetting baselines.

- :mod:`lwasr.expansion.similarity`: the base Whisper's language ID over a language's audio -> similar languages.
- :mod:`lwasr.expansion.moe`: a new trainable LoRA mixed with frozen base experts on one PeftModel; the ``moe``
  unit format and its decode loader.
- :mod:`lwasr.expansion.config`: ``ExpandConfig``, the run's settings.
- :mod:`lwasr.expansion.inits`: the registry of ``--init`` (random, warm, moe; the forgetting baselines
  continue-full, continue-shared).
- :mod:`lwasr.expansion.expand`: ``lwasr expand`` (plan, then run) on top of the training loop.
"""

#: Gates of ``--init moe`` (``--moe-gate``): fixed similarity weights, or learned per-module weights.
MOE_GATES = ("fixed", "learned")
