"""A disk cache of top-k teacher logits, so several students (aware, agnostic, other alpha) share one teacher pass.

Layout of ``--teacher-cache DIR``::

    info.json                       what made it: base fingerprint, a hash of each expert, top-k, teacher prompt
    shard-r<rank>-<n>.safetensors   values [T, k] float16 (raw logits), indices [T, k] int32; metadata: the cut
                                    ids and their numbers of text + end positions (T is their sum)

Entries are keyed by cut id and cover the text + end positions, which do not depend on the student's prompt,
so aware and agnostic students use the same cache. Shards are written atomically: an interrupted teacher pass
keeps its finished shards and computes only the missing cuts next time.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from lwasr.atomic import atomic_path, write_json
from lwasr.errors import LwasrError
from lwasr.units.experts import Expert

INFO = "info.json"


def cache_info(experts: list[Expert], fingerprint: str, topk: int) -> dict[str, Any]:
    """What a cache's contents depend on (compared with ``info.json`` when the cache is reused)."""
    return {
        "base_fingerprint": fingerprint,
        "topk": topk,
        "teacher_lang_token": experts[0].meta.lang_token,
        "trim_encoder_input": experts[0].meta.trim_encoder_input,
        "teachers": {e.lang: _file_hash(e.path / "adapter_model.safetensors") for e in experts},
    }


def _file_hash(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


class TeacherCache:
    """Top-k teacher logits by cut id, read into memory from ``root`` (see the module docstring)."""

    def __init__(self, root: str | Path, info: dict[str, Any]) -> None:
        self.root = Path(root)
        self.topk = int(info["topk"])
        self._check_info(info)
        self.entries: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        self.reload()

    def _check_info(self, info: dict[str, Any]) -> None:
        """Refuse a cache made by other teachers or settings; record new languages' teachers."""
        path = self.root / INFO
        if path.is_file():
            old = json.loads(path.read_text())
            fixed = [k for k in info if k != "teachers" and old.get(k) != info[k]]
            changed = [lang for lang, h in info["teachers"].items() if old["teachers"].get(lang, h) != h]
            if fixed or changed:
                raise LwasrError(
                    f"teacher cache {self.root} was made with other {', '.join(fixed + changed)} (see {path});"
                    " delete it or give another --teacher-cache"
                )
            info = {**info, "teachers": {**old["teachers"], **info["teachers"]}}
        self.root.mkdir(parents=True, exist_ok=True)
        write_json(path, info)

    def reload(self) -> None:
        for shard in sorted(self.root.glob("shard-*.safetensors")):
            with safe_open(str(shard), framework="pt") as f:
                meta = f.metadata()
                values, indices = f.get_tensor("values"), f.get_tensor("indices")
            ids, lengths = json.loads(meta["ids"]), json.loads(meta["lengths"])
            for cut_id, v, i in zip(ids, values.split(lengths), indices.split(lengths), strict=True):
                self.entries[cut_id] = (v, i)

    def missing(self, ids: list[str]) -> list[str]:
        return [i for i in ids if i not in self.entries]

    def write(self, rank: int, records: list[tuple[str, torch.Tensor, torch.Tensor]]) -> None:
        """Add one shard of ``(cut id, values [n, k], indices [n, k])`` records."""
        n = len(list(self.root.glob(f"shard-r{rank}-*.safetensors")))
        tensors = {
            "values": torch.cat([v for _, v, _ in records]).to(torch.float16).contiguous(),
            "indices": torch.cat([i for _, _, i in records]).to(torch.int32).contiguous(),
        }
        meta = {"ids": json.dumps([r[0] for r in records]), "lengths": json.dumps([len(r[1]) for r in records])}
        with atomic_path(self.root / f"shard-r{rank}-{n:05d}.safetensors") as tmp:
            save_file(tensors, str(tmp), metadata=meta)
        for cut_id, v, i in records:
            self.entries[cut_id] = (v.to(torch.float16), i.to(torch.int32))

    def targets(self, ids: list[str], lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Top-k ``(values, indices)`` for a batch's cuts, concatenated in batch order (as the label mask)."""
        rows = [self.entries[i] for i in ids]
        bad = [i for i, (v, _), n in zip(ids, rows, lengths, strict=True) if len(v) != n]
        if bad:
            raise LwasrError(
                f"teacher cache {self.root} has another number of text positions for {bad[0]}: was the tokenizer or"
                " the manifest changed? Delete the cache"
            )
        return torch.cat([v for v, _ in rows]), torch.cat([i for _, i in rows])
