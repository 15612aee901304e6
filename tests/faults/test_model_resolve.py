"""Hub models without a hub: one clean error at once, a filled cache works, the base is never probed as an adapter.

No test here reaches the network: the hub is switched off (``HF_HUB_OFFLINE``) or its failure is simulated.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import httpx2
import huggingface_hub
import pytest
from huggingface_hub import constants, errors
from transformers.integrations import peft as transformers_peft

from lwasr.errors import LwasrError
from lwasr.models.resolve import resolve_model
from lwasr.units.base import load_whisper

REPO = "lwasr-tests/tiny-whisper"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty hub cache of this test only."""
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def fill_hub_cache(cache: Path, repo_id: str, model_dir: Path) -> Path:
    """Put ``model_dir`` into ``cache`` as the ``main`` snapshot of ``repo_id`` (the layout huggingface_hub writes)."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    commit = "0123456789abcdef0123456789abcdef01234567"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    shutil.copytree(model_dir, snapshot)
    return snapshot


def test_offline_hub_id_not_in_cache_is_one_line_naming_the_fixes(hub_cache, monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(LwasrError) as err:
        resolve_model("openai/whisper-large-v3")
    message = str(err.value)
    assert "\n" not in message
    assert "'openai/whisper-large-v3'" in message and "HF_HUB_OFFLINE=1" in message
    assert str(hub_cache) in message and "embedded:whisper-base" in message and "local model directory" in message


def test_unreachable_hub_is_one_line_naming_the_alternatives(hub_cache, monkeypatch):
    calls = []

    def unreachable(repo_id: str, **kwargs: object) -> str:
        calls.append(repo_id)
        raise errors.LocalEntryNotFoundError("Got: ConnectError: [Errno -2] Name or service not known")

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", unreachable)
    with pytest.raises(LwasrError) as err:
        load_whisper("openai/whisper-large-v3")
    message = str(err.value)
    assert calls == ["openai/whisper-large-v3"]  # asked once, no retries
    assert "\n" not in message and "'openai/whisper-large-v3'" in message and "unreachable" in message
    for alternative in ("embedded:whisper-base", "local model directory", "HF_HUB_OFFLINE=1"):
        assert alternative in message


def test_missing_hub_repository_says_so(hub_cache, monkeypatch):
    def not_found(repo_id: str, **kwargs: object) -> str:
        request = httpx2.Request("GET", f"https://huggingface.co/api/models/{repo_id}")
        raise errors.RepositoryNotFoundError("404 Repository Not Found", response=httpx2.Response(404, request=request))

    monkeypatch.setattr(huggingface_hub, "snapshot_download", not_found)
    with pytest.raises(LwasrError, match="not on the Hugging Face hub, or it is gated or private"):
        resolve_model("openai/whisper-large-v9")


def test_cached_hub_model_loads_offline_without_an_adapter_probe(tiny_whisper, hub_cache, monkeypatch):
    snapshot = fill_hub_cache(hub_cache, REPO, tiny_whisper)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    probed = []
    real_probe = transformers_peft.find_adapter_config_file

    def probe(model_id: str, **kwargs: object) -> str | None:
        probed.append(model_id)
        return real_probe(model_id, **kwargs)

    monkeypatch.setattr(transformers_peft, "find_adapter_config_file", probe)
    model, tok = load_whisper(REPO)
    assert model.config.d_model == 64 and tok.convert_tokens_to_ids("<|pl|>") > 0
    assert probed and all(Path(p).is_dir() for p in probed), f"the hub was asked for an adapter of {probed}"
    assert Path(resolve_model(REPO)) == snapshot
