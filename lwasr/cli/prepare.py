"""`lwasr prepare`."""

from lwasr.cli._stub import planned_group

app = planned_group("prepare", "Write Lhotse manifests (FLEURS, MLS, Common Voice, any folder, offline espeak-ng speech).", issue=3)
