"""Expert fusion (arXiv 2506.21555): turn per-language LoRA experts into ONE model for a set of target languages.

Modules: methods (the registry of ``--method``), static (the arithmetic of sum, svd, ties, dare fusion), learned
(fusion weights trained on data), task_arithmetic (a λ chosen on dev), merge (writing the fused adapter, and a
standalone merged Hugging Face model), run (the ``lwasr fuse`` stage: plan, then run). The experts themselves are
loaded by :mod:`lwasr.units.experts`. See docs/fusion.md.
"""

#: The command that writes (and may replace) fusion outputs (lwasr.atomic.check_output).
PRODUCER = "lwasr fuse"
