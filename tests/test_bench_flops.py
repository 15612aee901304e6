"""bench/flops.py, the benchmarks' analytic FLOP count, against torch's FlopCounterMode on the tiny Whisper."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch.utils.flop_counter import FlopCounterMode
from transformers import WhisperForConditionalGeneration

from lwasr.decoding.greedy import GreedyRules, WhisperParts, search
from lwasr.models.trim import set_trimmed_input

BENCH = Path(__file__).resolve().parents[1] / "bench"
TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]


@pytest.fixture(scope="module")
def flops():
    spec = importlib.util.spec_from_file_location("bench_flops", BENCH / "flops.py")
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)  # its dataclass looks itself up there
    spec.loader.exec_module(module)
    return module


def tiny(path: Path, rank: int) -> torch.nn.Module:
    """The tiny Whisper with eager attention (its matmuls are what the counter sees), trimmed input, a LoRA."""
    model = WhisperForConditionalGeneration.from_pretrained(path, attn_implementation="eager")
    set_trimmed_input(model)
    if rank:
        model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS))
    return model


def counted(run) -> int:
    counter = FlopCounterMode(display=False)
    with counter:
        run()
    return counter.get_total_flops()


@pytest.mark.parametrize(("frames", "dec_len"), [(200, 7), (3000, 12)])
def test_training_flops_of_a_lora_step_match_the_counted_ones(tiny_whisper, flops, frames, dec_len):
    model = tiny(tiny_whisper, rank=4).train()
    feats = torch.randn(1, 80, frames)
    ids = torch.randint(0, 50000, (1, dec_len))

    def step() -> None:
        model(input_features=feats, decoder_input_ids=ids).logits.float().sum().backward()

    shape = flops.Shape.of_config(model.config)
    assert counted(step) == pytest.approx(flops.train_flops(shape, frames, dec_len, rank=4), rel=1e-9)


@pytest.mark.parametrize("rank", [0, 4])
def test_decode_flops_of_a_greedy_search_match_the_counted_ones(tiny_whisper, flops, rank):
    model = tiny(tiny_whisper, rank=rank).eval()
    parts = WhisperParts.of(model)
    feats = torch.randn(2, 80, 300)
    prompts = torch.tensor([[50258, 50269, 50360]] * 2)
    never_ends = GreedyRules(eos_id=-1, suppress=(), begin_suppress=(), max_target_positions=448)

    def decode() -> None:
        with torch.inference_mode():
            search(parts, parts.encode(feats), prompts, never_ends, max_new_tokens=9)

    shape = flops.Shape.of_config(model.config)
    expected = 2 * flops.decode_flops(shape, 300, prompt_len=3, new_tokens=9, rank=rank)
    assert counted(decode) == pytest.approx(expected, rel=1e-9)
