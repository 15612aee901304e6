"""`lwasr decode`."""

from lwasr.cli._stub import planned_group

app = planned_group("decode", "Decode a manifest with a base, fine-tuned, expert, fused or distilled model.", issue=4)
