"""Expert fusion (arXiv 2506.21555): turn per-language LoRA experts into ONE model for a set of target languages.

Modules: static (sum, svd, ties, dare fusion), learned (fusion weights trained on data), merge (writing the fused
adapter, and a standalone merged Hugging Face model), run (the ``lwasr fuse`` stage). The experts themselves are
loaded by :mod:`lwasr.units.experts`. See docs/fusion.md.
This module imports nothing heavy, so the CLI can read the method names cheaply.
"""

#: Fusion with fixed weights, implemented in lwasr.fusion.static.
STATIC_METHODS = ("sum", "svd", "ties", "dare", "dare_ties")
#: Every method ``lwasr fuse`` offers; "learned" (fusion weights trained on data) is in lwasr.fusion.learned.
METHODS = (*STATIC_METHODS, "learned")
#: The command that writes (and may replace) fusion outputs (lwasr.atomic.check_output).
PRODUCER = "lwasr fuse"
