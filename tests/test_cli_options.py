"""The training commands' options are generated from the config fields; --print-config; names from the library."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
import typer
import yaml
from typer.testing import CliRunner

from lwasr.cli import app
from lwasr.cli.expand import EXPAND_OPTIONS
from lwasr.cli.fuse import LEARNED_OPTIONS
from lwasr.cli.options import TRAIN_OPTIONS
from lwasr.cli.router import EVAL_OPTIONS
from lwasr.cli.train import TRAIN_ONE_OPTIONS
from lwasr.distill.config import DistillConfig
from lwasr.fusion.config import FuseConfig
from lwasr.routing.config import RouterConfig
from lwasr.training.config import TrainConfig, help_of

ROOT = typer.main.get_command(app)
#: command path -> (config class, the fields it exposes as options)
COMMANDS = {
    ("train",): (TrainConfig, TRAIN_ONE_OPTIONS),
    ("train", "experts"): (TrainConfig, TRAIN_OPTIONS),
    ("distill",): (DistillConfig, TRAIN_OPTIONS + ("teachers", "init", "alpha", "temperature", "cache_topk")),
    ("fuse",): (FuseConfig, LEARNED_OPTIONS),
    ("expand",): (TrainConfig, EXPAND_OPTIONS),
    ("router", "train"): (RouterConfig, tuple(f.name for f in dataclasses.fields(RouterConfig))),
    ("router", "eval"): (RouterConfig, EVAL_OPTIONS),
}


def command(path: tuple[str, ...]):
    cmd = ROOT
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def default_of(cls: type, name: str):
    f = cls.__dataclass_fields__[name]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_exposed_field_is_an_option_with_its_default_and_help(path):
    cls, names = COMMANDS[path]
    options = {p.name: p for p in command(path).params}
    for name in names:
        option = options[name]
        assert option.opts[0] == "--" + name.replace("_", "-")
        assert option.help == help_of(cls, name) and option.help
        default = option.default() if callable(option.default) else option.default
        assert default == default_of(cls, name) or (default is None and default_of(cls, name) is None), name


def test_learned_fusion_defaults_are_its_config_defaults():
    assert (default_of(FuseConfig, "lr"), default_of(FuseConfig, "num_epochs")) == (1e-2, 2)
    assert command(("fuse",)).params[[p.name for p in command(("fuse",)).params].index("lr")].default == 1e-2


def test_expand_has_lang_token_and_resume():
    opts = {o for p in command(("expand",)).params for o in p.opts + p.secondary_opts}
    assert {"--lang-token", "--no-lang-token", "--resume", "--no-resume", "--print-config"} <= opts


def all_commands(cmd, path=()):
    yield path, cmd
    for name, sub in getattr(cmd, "commands", {}).items():
        yield from all_commands(sub, (*path, name))


def test_help_of_every_command_lists_every_option_with_a_help_text():
    for path, cmd in all_commands(ROOT):
        for p in cmd.params:
            if p.param_type_name == "option" and not p.hidden:
                assert p.help, f"lwasr {' '.join(path)} {p.opts[0]} has no help"
        result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "300"})
        assert result.exit_code == 0, result.output
        for p in cmd.params:
            if p.param_type_name == "option" and not p.hidden:
                assert p.opts[0] in result.output, (path, p.opts[0])


def test_print_config_prints_the_resolved_yaml_and_trains_nothing(tmp_path):
    exp = tmp_path / "exp"
    args = ["train", "--mode", "full", "--exp-dir", str(exp), "--lr", "0.5", "--set", "seed=7", "--print-config"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    printed = yaml.safe_load(result.output)
    # the shipped train_full.yaml (warmup 500), the options, --set, and the dataclass defaults: all of it
    assert printed["lr"] == 0.5 and printed["seed"] == 7 and printed["warmup_steps"] == 500
    assert set(printed) == {f.name for f in dataclasses.fields(TrainConfig)}
    assert not exp.exists()
    # without the option, a recipe yaml keeps its own value (an option's default does not override the file)
    conf = tmp_path / "c.yaml"
    conf.write_text("mode: shared\nlr: 2.0e-4\n")
    result = CliRunner().invoke(app, ["train", "--config", str(conf), "--print-config"])
    assert yaml.safe_load(result.output)["lr"] == 2e-4


def test_python_distill_names_its_student_like_the_cli():
    assert DistillConfig(teachers="t").name == "distilled_aware"
    assert DistillConfig(teachers="t", lang_token=False).name == "distilled_agnostic"
    assert DistillConfig(teachers="t", mode="full", lang_token=False).unit_dir.name == "distilled_full_agnostic"
    assert DistillConfig(teachers="t", name="mine").name == "mine"


def test_version_is_the_installed_packages():
    """`lwasr --version` (it was "No such option"; only `lwasr env` showed it) prints the installed version."""
    from importlib.metadata import version

    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"lwasr {version('lwasr')}"


@pytest.mark.parametrize("name", sorted(ROOT.commands))
def test_a_command_without_subcommands_shows_none_in_its_usage(name):
    """`lwasr decode --help` and `lwasr distill --help` showed `COMMAND [ARGS]...` though neither has subcommands."""
    cmd = ROOT.commands[name]
    usage = next(line for line in CliRunner().invoke(app, [name, "--help"]).output.splitlines() if "Usage:" in line)
    assert ("COMMAND" in usage) == bool(getattr(cmd, "commands", None)), usage


def test_help_shows_square_brackets_as_written():
    """rich read `lwasr[qlora]` in --quantize-base's help as a style tag and printed `lwasr`."""
    result = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "300"})
    assert "pip install 'lwasr[qlora]'" in result.output


#: What the training and decoding commands import, which the light ones must not.
HEAVY = ("torch", "transformers.modeling_utils", "peft", "lhotse")


def _modules_loaded_by(args: list[str]) -> tuple[int, list[str]]:
    """In a fresh interpreter: the exit status of ``lwasr ARGS`` and which heavy libraries it imported."""
    code = (
        "import sys\nfrom typer.testing import CliRunner\nfrom lwasr.cli import app\n"
        f"r = CliRunner().invoke(app, {args!r})\n"
        f"print(r.exit_code, *(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    return int(out[0]), out[1:]


#: Every command's help, and the subcommands' of the groups that have them.
HELPS = [[name, "--help"] for name in ROOT.commands] + [
    [*group, "--help"] for group in (["prepare", "synth"], ["train", "pick"], ["router", "train"], ["score", "wer"])
]


@pytest.mark.parametrize("args", HELPS, ids=" ".join)
def test_help_does_not_import_the_training_stack(args):
    """Every command's module was imported at start-up, so `lwasr score` waited 7-9 s for torch, transformers and
    peft, which it never uses; then each command's help still imported its config modules' torch, transformers'
    language table, peft (decode's systems) or lhotse (prepare's channels): 3-7 s for `lwasr decode --help`. A
    command's module is now imported when it runs, and its stack when it works."""
    assert _modules_loaded_by(args) == (0, [])


def test_the_check_sees_the_stack_and_the_root_lists_every_command():
    status, loaded = _modules_loaded_by(["env"])  # `lwasr env` reports torch's version and devices
    assert status == 0 and "torch" in loaded
    listed = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "300"}).output
    for name in ROOT.commands:
        assert f"│ {name} " in listed, name
    assert "Did you mean 'score'?" in CliRunner().invoke(app, ["scor"]).output
