"""``lwasr train experts``: one expert per language, in sequence or several at once (one per GPU)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.multiprocessing as mp

from lwasr.errors import LwasrError
from lwasr.training.config import TrainConfig
from lwasr.training.loop import train

log = logging.getLogger("lwasr.train")


def expert_config(cfg: TrainConfig, lang: str) -> TrainConfig:
    """``cfg`` for the expert of ``lang``."""
    return dataclasses.replace(cfg, mode="expert", lang=lang, langs=None)


def default_jobs() -> int:
    """Experts trained at once by default: one per visible GPU, or 1 on CPU."""
    return max(1, torch.cuda.device_count())


def resolve_jobs(jobs: int | None) -> int:
    """Experts trained at once: ``jobs``, else :func:`default_jobs`; always 1 under torchrun (refused above 1)."""
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        if (jobs or 1) > 1:
            raise LwasrError(
                "--jobs > 1 cannot be combined with torchrun; under torchrun experts train one after another"
            )
        return 1
    return jobs or default_jobs()


def train_experts(
    cfg: TrainConfig, langs: list[str], jobs: int | None = None, setup: Callable[[], None] | None = None
) -> list[Path]:
    """Train the expert of every language in ``langs``; with ``jobs`` > 1, that many processes share them.

    ``jobs``: see :func:`resolve_jobs`. Process ``j`` takes languages ``j, j+jobs, ...`` and, on CUDA machines,
    GPU ``j % n_gpus``. ``setup``: called first in each spawned process (a module-level function: the CLI passes
    :func:`lwasr.loaders.register_all`, so a worker has the registrations of its parent, ``valid_metric: wer``).
    """
    jobs = resolve_jobs(jobs)
    if jobs <= 1 or len(langs) == 1:
        return [train(expert_config(cfg, lang)) for lang in langs]
    ctx = mp.get_context("spawn")
    n_gpus = torch.cuda.device_count()
    procs = []
    for j in range(min(jobs, len(langs))):
        gpu = str(j % n_gpus) if n_gpus else None
        p = ctx.Process(target=_worker, args=(cfg, langs[j::jobs], gpu, jobs, setup), name=f"experts-{j}")
        p.start()
        procs.append((p, langs[j::jobs]))
    failed = []
    for p, share in procs:
        p.join()
        if p.exitcode != 0:
            failed += share
    if failed:
        raise LwasrError(f"training failed for expert(s) among {', '.join(failed)}; see their train.log files")
    return [expert_config(cfg, lang).unit_dir for lang in langs]


def _worker(cfg: TrainConfig, langs: list[str], gpu: str | None, jobs: int, setup: Callable[[], None] | None) -> None:
    """One process of :func:`train_experts`: pin to one GPU (or a share of the CPU cores), train in turn."""
    if setup is not None:
        setup()
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // jobs))
    logging.basicConfig(level=logging.INFO, format="[lwasr %(processName)s] %(message)s")
    for lang in langs:
        train(expert_config(cfg, lang))
