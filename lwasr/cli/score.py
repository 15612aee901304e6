"""`lwasr score`."""

from lwasr.cli._stub import planned_group

app = planned_group("score", "Score decodes (WER, or CER for zh/ja/th/lo/my/yue) and compare systems.", issue=4)
