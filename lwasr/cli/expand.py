"""`lwasr expand`."""

from lwasr.cli._stub import planned_group

app = planned_group("expand", "Add a new language as a new expert (random, warm start, LoRA-MoE).", issue=7)
