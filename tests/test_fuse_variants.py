"""Fusion that can learn (issue 15): the learned gate moves towards a known optimum and is logged over steps;
task arithmetic chooses its λ by the lowest dev loss; fuse-then-fine-tune starts from the svd fusion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml
from helpers import gated, make_cuts
from peft import get_peft_model_state_dict
from safetensors.torch import load_file
from typer.testing import CliRunner

import lwasr.fusion.learned as learned
from lwasr.cli import app
from lwasr.data.cuts import load_cuts
from lwasr.errors import LwasrError
from lwasr.fusion.run import fuse
from lwasr.fusion.trajectory import TRAJECTORY, TRAJECTORY_PNG, read_trajectory
from lwasr.models.trim import set_trimmed_input
from lwasr.training import data as D
from lwasr.training import ddp, loop
from lwasr.training.config import load_config
from lwasr.training.evaluate import cuts_loss
from lwasr.units.base import load_whisper
from lwasr.units.meta import ModelMeta

LANGS = ["pl", "pt"]


@pytest.fixture(scope="module")
def cuts(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("data")
    return make_cuts(root / "train", per_lang=3), make_cuts(root / "dev", per_lang=2, name="cuts_dev")


# -- the learned gate -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("gate", "fn"), [("module", "linear"), ("layer", "linear"), ("global", "linear"), ("layer", "softmax")]
)
def test_gate_moves_towards_the_expert_the_data_comes_from(tiny_whisper, experts_dir, gate, fn):
    """Targets: the output distribution of base + the pl expert alone, i.e. gate weights (1, 0), a known optimum.

    From the uniform start (0.5, 0.5) every gate must move (by more than 0.1) and cut the loss tenfold; a global
    gate and a softmax gate, for which (1, 0) is the only optimum, must also halve their distance to it with pl
    well above pt. A frozen gate, a gate without gradient, or one that moves the wrong way fails.
    """
    model = gated(tiny_whisper, experts_dir, LANGS, gate, fn)
    set_trimmed_input(model)
    gen = torch.Generator().manual_seed(0)
    feats = torch.randn(2, 80, 100, generator=gen)
    ids = torch.randint(400, 5000, (2, 8), generator=gen)
    with torch.no_grad():
        model.gate.logits.copy_(torch.tensor([1.0, 0.0]) if fn == "linear" else torch.tensor([20.0, -20.0]))
        target = model(input_features=feats, decoder_input_ids=ids).logits.log_softmax(-1)
        model.gate.logits.copy_(torch.full_like(model.gate.logits, 0.5 if fn == "linear" else 0.0))
    start = model.gate.weights().detach().clone()
    optimizer = torch.optim.Adam([model.gate.logits], lr=0.05)
    losses = []
    for _ in range(40):
        logp = model(input_features=feats, decoder_input_ids=ids).logits.log_softmax(-1)
        loss = torch.nn.functional.kl_div(logp, target, log_target=True, reduction="batchmean")
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    w = model.gate.weights().detach()
    mean, optimum = w.mean(0), torch.tensor([1.0, 0.0])
    assert losses[-1] < 0.1 * losses[0] and (w - start).abs().max() > 0.1  # it left its start, for a far better point
    if gate == "global" or fn == "softmax":  # (1, 0) is then the only optimum; per module or layer, linear weights
        # have more freedom than these outputs pin down, so they only need to find some far better point
        assert (w - optimum).norm() < 0.5 * (start - optimum).norm() and mean[0] > mean[1] + 0.5, w


def test_learned_fusion_logs_and_plots_its_gate_over_steps_and_resumes(
    tiny_whisper, experts_dir, cuts, tmp_path, monkeypatch
):
    train_cuts, dev_cuts = cuts
    over = dict(cuts=[str(train_cuts)], dev_cuts=[str(dev_cuts)], max_duration=2.5, num_buckets=2, num_epochs=2)
    over |= dict(save_every=2, log_every=1, gate="global", gate_fn="linear", lr=0.05, warmup_steps=1)
    out = tmp_path / "exp" / "fused_learned"
    run = tmp_path / "exp" / "train_fused_learned"

    def stop(step: int) -> None:
        if step == 3:
            raise KeyboardInterrupt

    real_train = loop.train
    monkeypatch.setattr(learned, "train", lambda cfg, trainer: real_train(cfg, on_step=stop, trainer=trainer))
    with pytest.raises(KeyboardInterrupt):
        fuse(experts_dir, LANGS, "learned", out, train_overrides=over)
    assert [r["step"] for r in read_trajectory(run / TRAJECTORY)] == [0, 1, 2, 3]
    monkeypatch.setattr(learned, "train", real_train)
    unit = fuse(experts_dir, LANGS, "learned", out, train_overrides=over)
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert config["valid_every"] == 0 and config["max_steps"] == 0  # two passes, validated after each
    records = read_trajectory(unit / TRAJECTORY)
    steps = [r["step"] for r in records]
    meta = ModelMeta.load(unit)
    assert steps == list(range(meta.extra["steps"] + 1)) and meta.extra["steps"] >= 4  # resumed without repeats
    assert records[0]["max_change"] == 0 and records[0]["mean"] == {"pl": 0.5, "pt": 0.5}
    assert records[-1]["max_change"] > 0.01 and meta.extra["gate_max_change"] > 0.01
    assert (unit / TRAJECTORY_PNG).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "best_dev_loss" in meta.extra


# -- task arithmetic --------------------------------------------------------------------------------------------


def dev_loss_of(unit: Path, dev_cuts: Path) -> float:
    """The dev loss of a written fused unit, computed on its own (base + adapter loaded with plain peft)."""
    from peft import PeftModel

    meta = ModelMeta.load(unit)
    base, tokenizer = load_whisper(meta.base_model)
    model = PeftModel.from_pretrained(base, str(unit)).to(ddp.pick_device("auto"))  # where choose_lambda scores
    cuts = load_cuts([str(dev_cuts)], split=None)
    return cuts_loss(model, tokenizer, cuts, lang_token=True, trim=True, max_duration=2.5)


@pytest.mark.parametrize(("method", "rank"), [("sum", None), ("svd", 2)])
def test_task_arithmetic_chooses_the_lambda_of_lowest_dev_loss(experts_dir, cuts, tmp_path, method, rank):
    _, dev_cuts = cuts
    grid = [1.0, 0.0, 0.5]
    over = {"dev_cuts": [str(dev_cuts)], "max_duration": 2.5}
    unit = fuse(experts_dir, LANGS, method, tmp_path / "ta", lambdas=grid, rank=rank, train_overrides=over)
    record = ModelMeta.load(unit).extra["task_arithmetic"]
    assert [g["lambda"] for g in record["grid"]] == grid
    # each grid point's loss is that of the same fusion made with weights (λ, λ), scored on its own
    for i, lam in enumerate(grid):
        alone = fuse(experts_dir, LANGS, method, tmp_path / f"w{i}", weights=[lam, lam], rank=rank)
        assert record["grid"][i]["dev_loss"] == pytest.approx(dev_loss_of(alone, dev_cuts), rel=1e-3)
    best = min(record["grid"], key=lambda g: g["dev_loss"])["lambda"]
    meta = ModelMeta.load(unit)
    assert record["lambda"] == best and meta.extra["weights"] == {"pl": best, "pt": best}
    assert dev_loss_of(unit, dev_cuts) == pytest.approx(min(g["dev_loss"] for g in record["grid"]), rel=1e-3)


def test_cli_lambdas(experts_dir, cuts, tmp_path):
    out = tmp_path / "cli_ta"
    args = ["fuse", "--experts", str(experts_dir), "--langs", "pl,pt", "--method", "sum", "--out", str(out)]
    args += ["--lambdas", "0.3,0.6", "--dev-cuts", str(cuts[1]), "--max-duration", "2.5"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert ModelMeta.load(out).extra["task_arithmetic"]["lambda"] in (0.3, 0.6)


@pytest.mark.parametrize(
    ("method", "kw", "message"),
    [
        ("ties", {"lambdas": [0.5]}, "--lambdas scales the weights of sum or svd"),
        ("sum", {"lambdas": [0.5]}, "--dev-cuts"),
        ("sum", {"lambdas": [0.5], "weights": [1.0, 1.0], "dev": True}, "not both"),
        ("sum", {"lambdas": [float("nan")], "dev": True}, "finite"),
        ("sum", {"lambdas": [], "dev": True}, "finite"),
        ("sum", {"dev": True}, r"training settings \(dev_cuts\) are for --method learned"),
        ("learned", {"lambdas": [0.5]}, "static methods"),
    ],
)
def test_task_arithmetic_bad_input(experts_dir, cuts, tmp_path, method, kw, message):
    over = {"dev_cuts": [str(cuts[1])]} if kw.pop("dev", False) else None
    with pytest.raises(LwasrError, match=message):
        fuse(experts_dir, LANGS, method, tmp_path / "x", train_overrides=over, **kw)
    assert not (tmp_path / "x").exists()


# -- fuse-then-fine-tune ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fused_svd(experts_dir, tmp_path_factory) -> Path:
    """The svd fusion at the experts' largest rank (8), weights 1/2."""
    return fuse(experts_dir, LANGS, "svd", tmp_path_factory.mktemp("ft") / "fused_svd")


def shared_config(tmp_path: Path, train_cuts: Path, fused: Path, **more):
    values = dict(
        model=ModelMeta.load(fused).base_model,
        mode="shared",
        langs=LANGS,
        cuts=[str(train_cuts)],
        init_adapter=str(fused),
        exp_dir=str(tmp_path),
    )
    values |= dict(max_duration=2.5, num_buckets=2, max_steps=2, lora_dropout=0.0, device="cpu", **more)
    return load_config(None, values)


def test_fine_tune_starts_from_the_svd_fusion(tiny_whisper, fused_svd, cuts, tmp_path):
    cfg = shared_config(tmp_path, cuts[0], fused_svd)
    trainer = loop.Trainer(cfg, ddp.setup("cpu"))
    start = get_peft_model_state_dict(trainer.model)
    fused = load_file(fused_svd / "adapter_model.safetensors")
    assert set(start) == set(fused) and fused
    for key, value in fused.items():
        torch.testing.assert_close(start[key], value, atol=0, rtol=0)
    assert trainer.model.peft_config["default"].r == 8 and trainer.model.peft_config["default"].lora_alpha == 8
    assert {n for n, p in trainer.model.named_parameters() if p.requires_grad} and all(
        "lora_" in n for n, p in trainer.model.named_parameters() if p.requires_grad
    )


def test_fine_tune_trains_on_and_records_its_start(tiny_whisper, fused_svd, cuts, tmp_path):
    cfg = shared_config(tmp_path, cuts[0], fused_svd, lora_alpha=64, lora_rank=32)
    unit = loop.train(cfg)
    meta = ModelMeta.load(unit)
    assert meta.extra["init_adapter"] == str(fused_svd) and meta.extra["steps"] == 2
    assert (meta.extra["lora"]["rank"], meta.extra["lora"]["alpha"]) == (8, 8)  # the adapter's, not the settings'
    config = yaml.safe_load((tmp_path / "train_shared" / "config.yaml").read_text())
    assert (config["lora_rank"], config["lora_alpha"], config["init_adapter"]) == (8, 8, str(fused_svd))
    trained, fused = load_file(unit / "adapter_model.safetensors"), load_file(fused_svd / "adapter_model.safetensors")
    assert set(trained) == set(fused) and any(not torch.equal(trained[k], fused[k]) for k in fused)
    adapter = json.loads((unit / "adapter_config.json").read_text())
    assert (adapter["r"], adapter["lora_alpha"]) == (8, 8)


def test_cli_init_adapter(fused_svd, cuts, tmp_path):
    args = ["train", "--mode", "shared", "--langs", "pl,pt", "--cuts", str(cuts[0]), "--exp-dir", str(tmp_path)]
    args += ["--model", ModelMeta.load(fused_svd).base_model]
    args += ["--init-adapter", str(fused_svd), "--max-steps", "1", "--max-duration", "2.5", "--set", "num_buckets=2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert ModelMeta.load(tmp_path / "shared").extra["init_adapter"] == str(fused_svd)


def test_init_adapter_bad_input(experts_dir, fused_svd, cuts, tmp_path):
    with pytest.raises(LwasrError, match="mode full trains no LoRA"):
        load_config(None, dict(mode="full", init_adapter=str(fused_svd)))
    with pytest.raises(LwasrError, match="not an lwasr model"):
        loop.train(shared_config(tmp_path, cuts[0], tmp_path / "nothing"))
    with pytest.raises(LwasrError, match="different base models"):
        loop.train(shared_config(tmp_path, cuts[0], experts_dir / "cy", model=ModelMeta.load(fused_svd).base_model))
    with pytest.raises(LwasrError, match="init_adapter is a setting of lwasr train"):
        over = {"cuts": [str(cuts[0])], "max_steps": 1, "init_adapter": str(fused_svd)}
        fuse(experts_dir, LANGS, "learned", tmp_path / "x", train_overrides=over)


def test_dev_loss_outside_training_is_the_trainers(tiny_whisper, cuts, tmp_path):
    """cuts_loss gives the trainer's validation loss for the same model and cuts."""
    train_cuts, dev_cuts = cuts
    values = dict(mode="shared", langs=LANGS, cuts=[str(train_cuts)], dev_cuts=[str(dev_cuts)], exp_dir=str(tmp_path))
    values |= dict(model=str(tiny_whisper), max_duration=2.5, num_buckets=10, max_steps=1, device="cpu")
    trainer = loop.Trainer(load_config(None, values), ddp.setup("cpu"))
    trainer._validate()
    model = trainer.model
    dev = D.select_languages(load_cuts([str(dev_cuts)], split=None), LANGS)
    loss = cuts_loss(model, trainer.tokenizer, dev, lang_token=True, trim=True, max_duration=2.5)
    assert loss == pytest.approx(trainer.best_loss, rel=1e-5)
