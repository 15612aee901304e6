"""lwasr.units.mixture against an explicit per-adapter computation on a tiny two-layer model.

By hand, a LoRA layer with adapters ``i`` and weights ``w_i`` computes ``W x + b + sum_i w_i * (alpha_i / r_i) *
B_i A_i x``. Three adapters of different ranks and alphas; ``fr`` adapts only the second layer.
"""

from __future__ import annotations

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from torch import nn

from lwasr.units.mixture import (
    AdapterMixture,
    WeightedAdapters,
    freeze_adapters,
    mixed_adapters,
    per_sample_adapters,
    scale_adapters,
)

MODULES = ("q_proj", "fc1")
CONFIGS = {
    "en": LoraConfig(r=2, lora_alpha=3, target_modules=list(MODULES), init_lora_weights=False),
    "de": LoraConfig(r=3, lora_alpha=2, target_modules=list(MODULES), init_lora_weights=False),
    "fr": LoraConfig(r=1, lora_alpha=5, target_modules=["fc1"], init_lora_weights=False, lora_dropout=0.5),
}
NAMES = tuple(CONFIGS)


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q_proj, self.fc1, self.out = nn.Linear(6, 5), nn.Linear(5, 4), nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.fc1(self.q_proj(x)))


@pytest.fixture
def model() -> PeftModel:
    torch.manual_seed(0)
    names = iter(CONFIGS)
    first = next(names)
    peft_model = get_peft_model(Tiny(), CONFIGS[first], adapter_name=first)
    for name in names:
        peft_model.add_adapter(name, CONFIGS[name])
    return peft_model.eval()


def by_hand(model: PeftModel, x: torch.Tensor, weights: dict[str, dict[str, object]]) -> torch.Tensor:
    """``weights[module][adapter]``: a number, a 0-dim tensor or one weight per row; a missing adapter weighs 0."""
    tiny = model.base_model.model
    h = x
    for module in MODULES:
        layer = getattr(tiny, module)
        y = h @ layer.base_layer.weight.T + layer.base_layer.bias
        for name, config in CONFIGS.items():
            if module not in config.target_modules or name not in weights[module]:
                continue
            w = torch.as_tensor(weights[module][name])
            w = w.view(-1, *[1] * (h.dim() - 1)) if w.dim() == 1 else w
            A, B = layer.lora_A[name].weight, layer.lora_B[name].weight
            y = y + w * (config.lora_alpha / config.r) * (h @ A.T @ B.T)
        h = y
    return tiny.out(h)


def inputs(rows: int = 3) -> torch.Tensor:
    return torch.randn(rows, 7, 6, generator=torch.Generator().manual_seed(1))


def test_layer_weights_give_the_weighted_sum_and_peft_gets_its_sum_back(model: PeftModel) -> None:
    x = inputs()
    weights = {"q_proj": {"en": 0.3, "de": -1.2}, "fc1": {"en": 0.5, "de": 2.0, "fr": 0.7}}
    mix = WeightedAdapters(model, lambda module, _: weights[module.rsplit(".", 1)[-1]].items())
    with torch.no_grad():
        mixed = model(x)
    torch.testing.assert_close(mixed, by_hand(model, x, weights))
    mix.remove()
    with torch.no_grad():
        torch.testing.assert_close(model(x), by_hand(model, x, {m: {"en": 1.0} for m in MODULES}))


def test_row_weights_mix_each_row_and_follow_beams(model: PeftModel) -> None:
    x = inputs()
    rows = torch.tensor([[0.25, 0.75, 0.0], [1.0, 0.0, 0.0], [0.0, 0.5, 0.5]])
    mixture = AdapterMixture(NAMES, rows)
    want = by_hand(model, x, {m: {n: rows[:, j] for j, n in enumerate(NAMES)} for m in MODULES})
    with torch.no_grad(), model.disable_adapter():
        with mixed_adapters(model, mixture):
            got = model(x)
            beams = model(x.repeat_interleave(2, dim=0))  # two beams per row
        torch.testing.assert_close(model(x), by_hand(model, x, {m: {} for m in MODULES}))  # nothing left behind
    torch.testing.assert_close(got, want)
    torch.testing.assert_close(beams, want.repeat_interleave(2, dim=0))


def test_gate_weights_get_the_gradients_of_the_explicit_sum(model: PeftModel) -> None:
    x = inputs()
    logits = torch.tensor([[0.1, -0.4, 0.3], [0.6, 0.2, -0.5]], requires_grad=True)
    model.train()
    freeze_adapters(model, NAMES)  # fixed functions: fr's dropout off, as learned fusion does

    def gate(module: str, x: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
        w = logits[MODULES.index(module.rsplit(".", 1)[-1])].softmax(-1)
        return [(name, w[i]) for i, name in enumerate(NAMES)]

    WeightedAdapters(model, gate)
    model(x).square().sum().backward()
    got = logits.grad.clone()
    logits.grad = None
    w = logits.softmax(-1)
    by_hand(model, x, {m: dict(zip(NAMES, w[i], strict=True)) for i, m in enumerate(MODULES)}).square().sum().backward()
    torch.testing.assert_close(got, logits.grad)
    assert not any(p.requires_grad for p in model.parameters())  # the adapters stay frozen


def test_constant_weights_through_peft_scaling_and_merge(model: PeftModel) -> None:
    x = inputs()
    weights = {"q_proj": {"en": 0.3, "de": 0.9}, "fc1": {"en": 1.5, "de": 0.25, "fr": 0.6}}
    model.base_model.set_adapter(list(CONFIGS))
    scale_adapters(model, lambda module: weights[module.rsplit(".", 1)[-1]])
    with torch.no_grad():
        want = by_hand(model, x, weights)
        torch.testing.assert_close(model(x), want)
        model.merge_adapter()  # into the base weights: what decoding a moe unit does
        torch.testing.assert_close(model(x), want)


def test_per_sample_adapters_route_each_row(model: PeftModel) -> None:
    x = inputs()
    names = ["de", "__base__", "fr"]
    one_hot = {m: {n: torch.tensor([float(r == n) for r in names]) for n in NAMES} for m in MODULES}
    with torch.no_grad(), per_sample_adapters(model, names):
        torch.testing.assert_close(model(x), by_hand(model, x, one_hot))


def test_frozen_adapters_have_no_gradient_and_no_dropout(model: PeftModel) -> None:
    model.base_model.set_adapter(list(CONFIGS))
    freeze_adapters(model, ["de", "fr"])
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".en." in n for n in trainable)
    assert isinstance(model.base_model.model.fc1.lora_dropout["fr"], nn.Identity)
