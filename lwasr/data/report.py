"""What a prepare run did: cuts and hours per manifest, every dropped item with its reason, conversions noted.

Each manifest gets a sidecar ``<corpus>_<lang>_<split>_report.json`` written right after it (it doubles as
the "complete" marker); each run gathers the sidecars of the manifests it touched into ``<root>/report.json``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from lwasr.atomic import write_json

# Reasons an item is dropped (stable keys: scripts may count them).
MISSING_AUDIO = "missing_audio"
UNREADABLE_AUDIO = "unreadable_audio"
EMPTY_AUDIO = "empty_audio"
TRUNCATED_AUDIO = "truncated_audio"
EMPTY_TEXT = "empty_text"
TOO_LONG = "too_long"
TOO_SHORT = "too_short"
DUPLICATE_ID = "duplicate_id"
BAD_LINE = "bad_line"
BAD_SEGMENT = "bad_segment"
NO_LANGUAGE = "no_language"
UNKNOWN_LANGUAGE = "unknown_language"


@dataclass
class Dropped:
    """One item left out of a manifest, and why."""

    id: str
    reason: str
    detail: str = ""


@dataclass
class SplitReport:
    """The outcome for one (corpus, language, split) manifest."""

    corpus: str
    lang: str
    split: str
    path: str
    cuts: int = 0
    seconds: float = 0.0
    dropped: list[Dropped] = field(default_factory=list)
    notes: dict[str, int] = field(default_factory=dict)
    fingerprint: dict[str, Any] = field(default_factory=dict)
    reused: bool = False

    @property
    def hours(self) -> float:
        return self.seconds / 3600

    def drop(self, item_id: str, reason: str, detail: str = "") -> None:
        self.dropped.append(Dropped(item_id, reason, detail))

    def note(self, what: str) -> None:
        """Count a conversion that kept the item (e.g. ``resampled 44100->16000 Hz``)."""
        self.notes[what] = self.notes.get(what, 0) + 1

    def drops_by_reason(self) -> dict[str, int]:
        return dict(sorted(Counter(d.reason for d in self.dropped).items()))

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hours"] = round(self.hours, 4)
        d["seconds"] = round(self.seconds, 3)
        d["dropped_by_reason"] = self.drops_by_reason()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SplitReport:
        keys = {"corpus", "lang", "split", "path", "cuts", "seconds", "notes", "fingerprint"}
        rep = cls(**{k: d[k] for k in keys if k in d})
        rep.dropped = [Dropped(**x) for x in d.get("dropped", [])]
        return rep

    def save(self, path: Path) -> None:
        d = self.to_dict()
        d.pop("reused", None)
        write_json(path, d)

    @classmethod
    def load(cls, path: Path) -> SplitReport:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))


@dataclass
class RunReport:
    """All manifests one prepare run wrote or reused."""

    corpus: str
    root: str
    splits: list[SplitReport] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        manifests = []
        dropped = []
        for s in self.splits:
            d = s.to_dict()
            drops = d.pop("dropped")
            d.pop("fingerprint")
            d["dropped"] = len(drops)
            manifests.append(d)
            dropped += [{"lang": s.lang, "split": s.split, **x} for x in drops]
        return {
            "corpus": self.corpus,
            "root": self.root,
            "totals": {
                "cuts": sum(s.cuts for s in self.splits),
                "hours": round(sum(s.hours for s in self.splits), 4),
                "dropped": len(dropped),
            },
            "manifests": manifests,
            "dropped": dropped,
        }

    def write(self, path: Path) -> None:
        write_json(path, self.to_dict())

    def table(self) -> str:
        """A short human-readable summary: one row per manifest, then what was dropped or converted."""
        rows = [("lang", "split", "cuts", "hours", "dropped", "")]
        for s in self.splits:
            rows.append(
                (s.lang, s.split, str(s.cuts), f"{s.hours:.3f}", str(len(s.dropped)), "reused" if s.reused else "")
            )
        rows.append(
            (
                "all",
                "",
                str(sum(s.cuts for s in self.splits)),
                f"{sum(s.hours for s in self.splits):.3f}",
                str(sum(len(s.dropped) for s in self.splits)),
                "",
            )
        )
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = [
            "  ".join(
                c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
            ).rstrip()
            for r in rows
        ]
        for s in self.splits:
            for reason, n in s.drops_by_reason().items():
                lines.append(f"  {s.lang}/{s.split}: dropped {n} ({reason})")
            for what, n in sorted(s.notes.items()):
                lines.append(f"  {s.lang}/{s.split}: {what}: {n}")
        return "\n".join(lines)
