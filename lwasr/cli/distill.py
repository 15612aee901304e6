"""`lwasr distill`."""

from lwasr.cli._stub import planned_group

app = planned_group("distill", "Distill LoRA language experts into one student model.", issue=6)
