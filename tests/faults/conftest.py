"""Fixtures of the fault suite (the shared ones are in tests/conftest.py, plain helpers in tests/helpers.py)."""

from __future__ import annotations

import pytest
from helpers import RUN, small

from lwasr.training.config import TrainConfig
from lwasr.training.loop import train


def kill_at(at: int):
    def on_step(step: int) -> None:
        if step == at:
            raise KeyboardInterrupt

    return on_step


@pytest.fixture(scope="session")
def killed(tmp_path_factory, tiny_whisper, manifests) -> TrainConfig:
    """A run of :func:`helpers.small` killed after step 2 (its checkpoint written); tests that resume it work on
    a copy (:func:`helpers.copy_of`)."""
    cfg = small(tmp_path_factory.mktemp("killed"), tiny_whisper, manifests, **RUN)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, on_step=kill_at(2))
    return cfg
