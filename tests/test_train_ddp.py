"""DDP on CPU (gloo): two processes train one expert; rank 0 writes it, with both ranks' RNG states."""

from __future__ import annotations

import os
import socket

import torch
import torch.multiprocessing as mp
from helpers import make_cuts

from lwasr.training import checkpoint
from lwasr.training.config import TrainConfig
from lwasr.units.meta import ModelMeta


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _rank(rank: int, world_size: int, port: int, cfg: TrainConfig) -> None:
    os.environ.update(
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world_size)
    )
    torch.set_num_threads(1)
    from lwasr.training.loop import train

    train(cfg)


def test_two_process_gloo_ddp(tmp_path, tiny_whisper):
    cuts = make_cuts(tmp_path / "data", langs=("pl",), per_lang=6)
    cfg = TrainConfig(
        mode="expert",
        lang="pl",
        model=str(tiny_whisper),
        cuts=[str(cuts)],
        dev_cuts=[str(cuts)],
        exp_dir=str(tmp_path / "exp"),
        max_duration=2.5,
        num_buckets=2,
        lora_rank=4,
        max_steps=2,
        warmup_steps=1,
        save_every=1,
        valid_every=2,
        device="cpu",
    )
    mp.spawn(_rank, args=(2, _free_port(), cfg), nprocs=2, join=True)
    assert ModelMeta.load(cfg.unit_dir).languages == ["pl"]
    state = torch.load(checkpoint.latest(cfg.run_dir / "checkpoints") / "trainer.pt", weights_only=False)
    assert len(state["rng"]) == 2 and state["step"] == 2
