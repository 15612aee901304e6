"""`lwasr train`."""

from lwasr.cli._stub import planned_group

app = planned_group("train", "Train language experts (LoRA per language) and the shared-LoRA and full fine-tuning baselines.", issue=4)
