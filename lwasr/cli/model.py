"""`lwasr model`."""

from lwasr.cli._stub import planned_group

app = planned_group("model", "Import and install Whisper models (CTranslate2 import, the embedded offline model).", issue=2)
