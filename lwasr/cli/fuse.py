"""`lwasr fuse`."""

from lwasr.cli._stub import planned_group

app = planned_group("fuse", "Fuse LoRA language experts into one adapter (sum, svd, ties, dare, learned).", issue=6)
