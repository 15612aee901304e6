"""Turn a ``--model`` argument into a local directory that ``from_pretrained`` loads.

Accepted forms: ``embedded:<name>`` (a model converted by ``lwasr model install-embedded``), a local
directory in Hugging Face format, or a Hugging Face hub id. A hub id is fetched into the hub cache here
(or found there, e.g. with ``HF_HUB_OFFLINE=1``), so every later ``from_pretrained`` reads a local
directory: transformers never probes the hub for the id (not even as an adapter repository), and a hub
that cannot be reached is one clean error instead of minutes of retries and a traceback.
"""

from __future__ import annotations

from pathlib import Path

from lwasr import paths
from lwasr.errors import LwasrError

EMBEDDED = {"whisper-base": "whisper-base"}
DEFAULT_MODEL = "embedded:whisper-base"
#: The files of a hub model that transformers needs: configs, tokenizer, safetensors weights (not the
#: PyTorch/TensorFlow/Flax copies that many repositories also hold).
HUB_FILES = ["*.json", "*.txt", "*.safetensors"]
#: Weights of repositories that have no safetensors.
HUB_LEGACY_WEIGHTS = ["pytorch_model*.bin"]
#: What to use instead of a hub model that cannot be fetched.
LOCAL_MODELS = "use embedded:whisper-base or a local model directory"
OFFLINE_CACHE = "or HF_HUB_OFFLINE=1 with the model in the hub cache"


def resolve_model(spec: str) -> str:
    """Return a local model directory for ``spec``; raise LwasrError with a fix when it cannot be found."""
    if spec.startswith("embedded:"):
        name = spec.split(":", 1)[1]
        if name not in EMBEDDED:
            raise LwasrError(f"unknown embedded model {name!r}; known: {', '.join(sorted(EMBEDDED))}")
        path = paths.models_dir() / EMBEDDED[name]
        if not (path / "config.json").exists():
            raise LwasrError(
                f"embedded model {name!r} is not installed at {path}; run `lwasr model install-embedded`"
                " (or tools/install.sh)"
            )
        return str(path)
    path = Path(spec).expanduser()
    if path.exists():
        if not (path / "config.json").exists():
            raise LwasrError(f"{path} exists but is not a Hugging Face model directory (no config.json)")
        return str(path)
    if spec.count("/") == 1 and not spec.startswith((".", "/")):
        return fetch_hub_model(spec)
    raise LwasrError(
        f"model {spec!r} not found: give `embedded:whisper-base`, a local model directory, or a hub id like"
        " openai/whisper-large-v3"
    )


def fetch_hub_model(repo_id: str) -> str:
    """The local snapshot directory of hub model ``repo_id``, downloaded into the hub cache if needed."""
    import huggingface_hub
    from huggingface_hub import constants, errors

    try:
        path = Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=HUB_FILES))
        if not any(path.glob("*.safetensors")):
            path = Path(huggingface_hub.snapshot_download(repo_id, allow_patterns=HUB_FILES + HUB_LEGACY_WEIGHTS))
    except errors.LocalEntryNotFoundError:
        if constants.HF_HUB_OFFLINE:
            why, fix = "HF_HUB_OFFLINE=1 is set", f"fetch it once where the hub is reachable, or {LOCAL_MODELS}"
        else:
            why, fix = f"the hub ({constants.ENDPOINT}) is unreachable", f"{LOCAL_MODELS}, {OFFLINE_CACHE}"
        raise LwasrError(
            f"model {repo_id!r} cannot be fetched: {why} and it is not in the hub cache ({constants.HF_HUB_CACHE});"
            f" {fix}"
        ) from None
    except errors.RepositoryNotFoundError:  # also gated or private repositories without a token
        raise LwasrError(
            f"model {repo_id!r} is not on the Hugging Face hub, or it is gated or private (log in with"
            f" `hf auth login`); {LOCAL_MODELS}"
        ) from None
    except errors.HfHubHTTPError as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise LwasrError(
            f"model {repo_id!r} cannot be fetched from the hub: {first}; {LOCAL_MODELS}, {OFFLINE_CACHE}"
        ) from None
    if not (path / "config.json").is_file():
        raise LwasrError(f"hub repository {repo_id!r} ({path}) holds no config.json: it is not a transformers model")
    return str(path)
