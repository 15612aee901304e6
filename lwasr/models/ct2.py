"""CTranslate2 Whisper checkpoints (faster-whisper format) to Hugging Face, and the model.bin format itself.

A CT2 ``model.bin`` is little-endian: uint32 binary version, string spec name, uint32 spec revision,
uint32 variable count; per variable a string name, uint8 rank, uint32 dims, uint8 dtype id, uint32 byte
count and the raw data; then uint32 alias count and (alias, target) string pairs. A string is a uint16
length, counting a trailing NUL, and the bytes. The reader and the writer below are the only places
that know this layout; the name mapping onto ``WhisperForConditionalGeneration`` is ``_layout``.
"""

from __future__ import annotations

import json
import logging
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lwasr.atomic import atomic_path, check_output
from lwasr.errors import LwasrError
from lwasr.output_lock import holding_lock

log = logging.getLogger(__name__)
#: The command that writes (and may replace) converted model directories (lwasr.atomic.check_output).
PRODUCER = "lwasr model import-ct2"

BINARY_VERSION = 6  # what CTranslate2 4.x writes; versions 4..6 share the variable layout read here
WHISPER_SPEC = "WhisperSpec"
# dtype id -> numpy dtype; bfloat16 (5) is stored as raw uint16 and widened to float32 on reading
_DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16, 5: np.uint16}
_DTYPE_IDS = {np.dtype(v): k for k, v in _DTYPES.items() if k != 5}
_ACTIVATIONS = {0: "relu", 1: "gelu_new", 2: "silu", 3: "gelu"}  # CT2 ActivationType -> HF name


@dataclass
class Ct2Checkpoint:
    """A parsed model.bin. bfloat16 variables are widened (exactly) to float32 and named in ``bfloat16``."""

    spec: str
    revision: int
    variables: dict[str, np.ndarray]
    aliases: dict[str, str] = field(default_factory=dict)
    bfloat16: set[str] = field(default_factory=set)


# --------------------------------------------------------------------------------------- binary format


class _Reader:
    def __init__(self, data: bytes, path: Path) -> None:
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int, what: str) -> bytes:
        if self.pos + n > len(self.data):
            raise LwasrError(
                f"{self.path} is truncated: needed {n} bytes for {what} at offset {self.pos}, but the file"
                f" has {len(self.data)} bytes (an interrupted download or copy?)"
            )
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def num(self, fmt: str, what: str) -> int:
        return struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))[0]

    def string(self, what: str) -> str:
        raw = self.take(self.num("H", what), what)
        try:
            return raw.rstrip(b"\0").decode("utf-8")
        except UnicodeDecodeError:
            raise LwasrError(f"{self.path} is not a CTranslate2 model.bin (bad {what} string)") from None


def read_ct2(path: str | Path) -> Ct2Checkpoint:
    """Parse a CTranslate2 ``model.bin``; raise LwasrError if it is not one or is truncated."""
    path = Path(path)
    if not path.is_file():
        raise LwasrError(f"model file not found: {path}")
    r = _Reader(path.read_bytes(), path)
    version = r.num("I", "the binary version")
    if not 4 <= version <= BINARY_VERSION:
        raise LwasrError(
            f"{path} is not a CTranslate2 model.bin this reader understands (binary version {version};"
            f" expected 4..{BINARY_VERSION})"
        )
    spec = r.string("spec name")
    revision = r.num("I", "spec revision")
    ckpt = Ct2Checkpoint(spec, revision, {})
    for _ in range(r.num("I", "variable count")):
        name = r.string("variable name")
        shape = tuple(r.num("I", f"shape of {name}") for _ in range(r.num("B", f"rank of {name}")))
        type_id = r.num("B", f"dtype of {name}")
        if type_id not in _DTYPES:
            raise LwasrError(f"{path}: variable {name} has unknown dtype id {type_id}")
        dtype = np.dtype(_DTYPES[type_id])
        nbytes = r.num("I", f"byte count of {name}")
        if nbytes != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
            raise LwasrError(f"{path}: variable {name} has {nbytes} bytes, which does not fit {shape} {dtype}")
        arr = np.frombuffer(r.take(nbytes, f"data of {name}"), dtype=dtype).reshape(shape)
        if type_id == 5:
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
            ckpt.bfloat16.add(name)
        ckpt.variables[name] = arr
    for _ in range(r.num("I", "alias count")):
        alias = r.string("alias")
        ckpt.aliases[alias] = r.string(f"target of alias {alias}")
    return ckpt


def _bfloat16_bits(arr: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest even."""
    u = np.ascontiguousarray(arr, dtype=np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def write_ct2(
    path: str | Path,
    variables: Mapping[str, np.ndarray],
    aliases: Mapping[str, str] | None = None,
    *,
    spec: str = WHISPER_SPEC,
    revision: int = 3,
    bfloat16: bool = False,
) -> Path:
    """Write ``variables`` (numpy arrays, dtype chosen by the array) as a CT2 ``model.bin``.

    With ``bfloat16``, float32 arrays of rank >= 1 are stored as bfloat16 (as CT2 does for such models).
    """
    path = Path(path)

    def string(s: str) -> bytes:
        raw = s.encode("utf-8") + b"\0"
        return struct.pack("<H", len(raw)) + raw

    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(struct.pack("<I", BINARY_VERSION) + string(spec) + struct.pack("<II", revision, len(variables)))
        for name, value in variables.items():
            arr = np.asarray(value)
            if bfloat16 and arr.dtype == np.float32 and arr.ndim:
                type_id, arr = 5, _bfloat16_bits(arr)
            elif arr.dtype in _DTYPE_IDS:
                type_id = _DTYPE_IDS[arr.dtype]
            else:
                raise ValueError(f"{name}: dtype {arr.dtype} cannot be stored in a CT2 model")
            data = np.ascontiguousarray(arr).astype(arr.dtype.newbyteorder("<")).tobytes()
            f.write(string(name) + struct.pack("<B", arr.ndim) + struct.pack(f"<{arr.ndim}I", *arr.shape))
            f.write(struct.pack("<BI", type_id, len(data)) + data)
        f.write(struct.pack("<I", len(aliases or {})))
        for alias, target in (aliases or {}).items():
            f.write(string(alias) + string(target))
    return path


# --------------------------------------------------------------------------------------- name mapping

_LINEAR = (("weight", "weight"), ("bias", "bias"))
_NORM = (("gamma", "weight"), ("beta", "bias"))


def _layout(n_enc: int, n_dec: int) -> Iterator[tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]]:
    """(CT2 prefix, HF prefixes, (CT2 suffix, HF suffix) pairs). Several HF prefixes: fused along dim 0."""
    for side, n in (("encoder", n_enc), ("decoder", n_dec)):
        h = f"model.{side}"
        if side == "encoder":
            yield "encoder/conv1", (f"{h}.conv1",), _LINEAR
            yield "encoder/conv2", (f"{h}.conv2",), _LINEAR
        else:
            yield "decoder/embeddings", (f"{h}.embed_tokens",), (("weight", "weight"),)
        yield f"{side}/position_encodings", (f"{h}.embed_positions",), (("encodings", "weight"),)
        yield f"{side}/layer_norm", (f"{h}.layer_norm",), _NORM
        for i in range(n):
            c, hl = f"{side}/layer_{i}", f"{h}.layers.{i}"
            attn = f"{hl}.self_attn"
            yield f"{c}/self_attention/linear_0", (f"{attn}.q_proj", f"{attn}.k_proj", f"{attn}.v_proj"), _LINEAR
            yield f"{c}/self_attention/linear_1", (f"{attn}.out_proj",), _LINEAR
            yield f"{c}/self_attention/layer_norm", (f"{hl}.self_attn_layer_norm",), _NORM
            if side == "decoder":
                cross = f"{hl}.encoder_attn"
                yield f"{c}/attention/linear_0", (f"{cross}.q_proj",), _LINEAR
                yield f"{c}/attention/linear_1", (f"{cross}.k_proj", f"{cross}.v_proj"), _LINEAR
                yield f"{c}/attention/linear_2", (f"{cross}.out_proj",), _LINEAR
                yield f"{c}/attention/layer_norm", (f"{hl}.encoder_attn_layer_norm",), _NORM
            yield f"{c}/ffn/linear_0", (f"{hl}.fc1",), _LINEAR
            yield f"{c}/ffn/linear_1", (f"{hl}.fc2",), _LINEAR
            yield f"{c}/ffn/layer_norm", (f"{hl}.final_layer_norm",), _NORM


def _count_layers(names: list[str], side: str) -> int:
    found = [int(m.group(1)) for n in names if (m := re.match(rf"{side}/layer_(\d+)/", n))]
    return max(found) + 1 if found else 0


def ct2_to_hf(variables: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Map CT2 Whisper tensors onto a ``WhisperForConditionalGeneration`` state dict (no copies, no casts).

    Raises LwasrError for a missing tensor, a non-zero key bias (HF has none) or a left-over tensor.
    """
    names = list(variables)
    out: dict[str, np.ndarray] = {}
    used: set[str] = set()
    for ct2, hf, suffixes in _layout(_count_layers(names, "encoder"), _count_layers(names, "decoder")):
        for cs, hs in suffixes:
            name = f"{ct2}/{cs}"
            if name not in variables:
                raise LwasrError(f"CT2 Whisper checkpoint lacks the tensor {name}")
            used.add(name)
            for prefix, part in zip(hf, np.split(variables[name], len(hf), axis=0), strict=True):
                if prefix.endswith("k_proj") and hs == "bias":
                    if np.any(part):
                        raise LwasrError(f"{name}: the key bias is not zero; HF Whisper has no key bias")
                    continue
                out[f"{prefix}.{hs}"] = part
    extra = sorted(n for n in names if n not in used and variables[n].ndim > 0)
    if extra:
        raise LwasrError(f"CT2 Whisper checkpoint has tensors this converter does not know: {extra[:5]}")
    return out


def hf_to_ct2(state_dict: Mapping[str, np.ndarray], encoder_heads: int, decoder_heads: int) -> dict[str, np.ndarray]:
    """The reverse of ``ct2_to_hf``: CT2 Whisper variables (fused q/k/v with a zero key bias, metadata)."""
    names = list(state_dict)
    n_enc = len({m.group(1) for n in names if (m := re.match(r"model\.encoder\.layers\.(\d+)\.", n))})
    n_dec = len({m.group(1) for n in names if (m := re.match(r"model\.decoder\.layers\.(\d+)\.", n))})
    out: dict[str, np.ndarray] = {}
    for ct2, hf, suffixes in _layout(n_enc, n_dec):
        for cs, hs in suffixes:
            parts = []
            for prefix in hf:
                key = f"{prefix}.{hs}"
                if key in state_dict:
                    parts.append(np.asarray(state_dict[key]))
                else:  # the key projection's bias: zero in CT2
                    parts.append(np.zeros_like(np.asarray(state_dict[f"{hf[-1]}.{hs}"])))
            out[f"{ct2}/{cs}"] = np.concatenate(parts, axis=0) if len(parts) > 1 else parts[0]
    out["encoder/num_heads"] = np.array(encoder_heads, dtype=np.int16)
    out["decoder/num_heads"] = np.array(decoder_heads, dtype=np.int16)
    out["decoder/activation"] = np.array(3, dtype=np.int8)  # GELU
    out["decoder/pre_norm"] = np.array(1, dtype=np.int8)
    return out


# --------------------------------------------------------------------------------------- conversion


def _scalar(ckpt: Ct2Checkpoint, name: str, default: int | None = None) -> int:
    if name in ckpt.variables:
        return int(ckpt.variables[name])
    if default is None:
        raise LwasrError(f"CT2 Whisper checkpoint lacks the metadata entry {name}")
    return default


@holding_lock("dst")
def convert_ct2(src: str | Path, dst: str | Path, *, keep_dtype: bool = False, overwrite: bool = False) -> Path:
    """Convert a CT2 Whisper directory (model.bin, config.json, tokenizer.json) into a HF model directory.

    Weights are saved as float32 unless ``keep_dtype``. ``dst`` appears complete or not at all. It must be new
    or an earlier conversion, which is kept unless ``overwrite`` (then replaced once the new one is complete).
    """
    import torch
    from transformers import WhisperConfig, WhisperForConditionalGeneration

    from lwasr.models import assets

    src, dst = Path(src), Path(dst)
    for name in ("model.bin", "config.json", "tokenizer.json"):
        if not (src / name).is_file():
            raise LwasrError(f"{src} is not a CTranslate2 Whisper directory: {name} is missing")
    if check_output(dst, PRODUCER) and not overwrite:
        log.info("%s is an earlier import; kept (pass --overwrite to convert again)", dst)
        return dst
    ckpt = read_ct2(src / "model.bin")
    if ckpt.spec != WHISPER_SPEC:
        raise LwasrError(f"{src / 'model.bin'} holds a {ckpt.spec!r} model; only {WHISPER_SPEC} can be imported")
    quantized = sorted(n for n, a in ckpt.variables.items() if a.ndim > 1 and a.dtype.kind == "i")
    if quantized or any(n.endswith("weight_scale") for n in ckpt.variables):
        raise LwasrError(
            f"{src / 'model.bin'} is quantized ({ckpt.variables[quantized[0]].dtype if quantized else 'int8'}"
            " weights); only float16/bfloat16/float32 checkpoints can be imported. Re-convert it with"
            " `ct2-transformers-converter --quantization float16` or import the original HF model instead"
        )
    try:
        ct2_config = json.loads((src / "config.json").read_text(encoding="utf-8"))
    except ValueError as e:
        raise LwasrError(f"{src / 'config.json'} is not valid JSON: {e}") from None

    state = ct2_to_hf(ckpt.variables)
    emb = state["model.decoder.embed_tokens.weight"]
    activation = _scalar(ckpt, "decoder/activation", 3)
    if activation not in _ACTIVATIONS:
        raise LwasrError(f"unsupported CT2 activation id {activation}")
    tok = assets.load_tokenizer(src / "tokenizer.json", vocab_size=emb.shape[0])
    eos, sot = tok.eos_token_id, tok.convert_tokens_to_ids("<|startoftranscript|>")
    names = list(ckpt.variables)
    gen = assets.generation_config(
        tok,
        lang_ids=ct2_config.get("lang_ids"),
        suppress_tokens=ct2_config.get("suppress_ids", ()),
        begin_suppress_tokens=ct2_config.get("suppress_ids_begin", (220, eos)),
        alignment_heads=ct2_config.get("alignment_heads"),
    )
    config = WhisperConfig(
        vocab_size=emb.shape[0],
        d_model=emb.shape[1],
        num_mel_bins=state["model.encoder.conv1.weight"].shape[1],
        encoder_layers=_count_layers(names, "encoder"),
        decoder_layers=_count_layers(names, "decoder"),
        encoder_attention_heads=_scalar(ckpt, "encoder/num_heads", emb.shape[1] // 64),  # Whisper heads are 64 wide
        decoder_attention_heads=_scalar(ckpt, "decoder/num_heads", emb.shape[1] // 64),
        encoder_ffn_dim=state["model.encoder.layers.0.fc1.weight"].shape[0],
        decoder_ffn_dim=state["model.decoder.layers.0.fc1.weight"].shape[0],
        max_source_positions=state["model.encoder.embed_positions.weight"].shape[0],
        max_target_positions=state["model.decoder.embed_positions.weight"].shape[0],
        activation_function=_ACTIVATIONS[activation],
        decoder_start_token_id=sot,
        pad_token_id=eos,
        bos_token_id=eos,
        eos_token_id=eos,
        suppress_tokens=gen.suppress_tokens,
        begin_suppress_tokens=gen.begin_suppress_tokens,
    )
    source = "bfloat16" if ckpt.bfloat16 else str(emb.dtype)

    def tensor(arr: np.ndarray) -> torch.Tensor:
        keep16 = keep_dtype and arr.dtype == np.float16
        t = torch.from_numpy(arr.astype(np.float16 if keep16 else np.float32))
        return t.to(torch.bfloat16) if keep_dtype and ckpt.bfloat16 else t

    log.info(
        "converting %s: %d+%d layers, d_model %d, %d mel bins, %s weights -> %s",
        src,
        config.encoder_layers,
        config.decoder_layers,
        config.d_model,
        config.num_mel_bins,
        source,
        source if keep_dtype else "float32",
    )
    with torch.device("meta"):
        model = WhisperForConditionalGeneration(config)
    missing, unexpected = model.load_state_dict({k: tensor(v) for k, v in state.items()}, strict=False, assign=True)
    if set(missing) != {"proj_out.weight"} or unexpected:
        raise LwasrError(f"internal mapping error: missing {missing}, unexpected {unexpected}")
    model.proj_out.weight = model.model.decoder.embed_tokens.weight
    model.generation_config = gen
    with atomic_path(dst, is_dir=True, producer=PRODUCER) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(tmp)
        assets.feature_extractor(config.num_mel_bins).save_pretrained(tmp)
    log.info("wrote %s", dst)
    return dst
