"""Every option of train, fuse, expand, distill and router that is a setting is generated from its config field:
flag name, default and help (issue 25)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import typer

from lwasr.cli import app
from lwasr.config_fields import flag_of
from lwasr.distill.config import DistillConfig
from lwasr.errors import LwasrError
from lwasr.expansion.config import ExpandConfig, ExpandOptions
from lwasr.expansion.inits import init_names
from lwasr.fusion.config import FuseConfig, FuseOptions
from lwasr.fusion.methods import method_names
from lwasr.routing.config import RouterConfig
from lwasr.training.config import TrainConfig, default_of, help_of

ROOT = typer.main.get_command(app)
#: command -> (its config classes, the first with a field of an option's name wins; fields that must be options)
COMMANDS = {
    ("train",): ((TrainConfig,), {"mode", "lang", "cuts", "init_adapter"}),
    ("train", "experts"): ((TrainConfig,), {"cuts", "lr"}),
    ("fuse",): (
        (FuseOptions, FuseConfig),
        {"experts", "merge", "gate", "gate_fn", "cuts"} | {f.name for f in dataclasses.fields(FuseOptions)},
    ),
    ("expand",): (
        (ExpandOptions, ExpandConfig),
        {"init", "moe_gate", "lr", "new_lang", "cuts", "dev_cuts", "source", "overwrite"}
        | {f.name for f in dataclasses.fields(ExpandOptions)},
    ),
    ("distill",): ((DistillConfig,), {"name", "teachers", "alpha"}),
    ("router", "train"): ((RouterConfig,), {f.name for f in dataclasses.fields(RouterConfig)}),
    ("router", "eval"): ((RouterConfig,), {"batch_size", "device"}),
}
#: Options named like a field of the command's config that are the command's own inputs, not that setting (their
#: type or meaning differs): `train experts --langs` lists the experts to train. Pinned, so that a new option that
#: drifts from its field fails here. (fuse's and expand's own settings are fields of FuseOptions and ExpandOptions.)
OWN = {
    ("train", "experts"): {"langs"},
}


def command(path):
    cmd = ROOT
    for name in path:
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_setting_option_is_its_field(path):
    classes, required = COMMANDS[path]
    options = {p.name: p for p in command(path).params if p.param_type_name == "option"}
    assert required <= set(options), required - set(options)
    for name in set(options) - OWN.get(path, set()):
        cls = next((c for c in classes if name in c.__dataclass_fields__), None)
        if cls is None:
            continue
        option = options[name]
        assert option.opts[0] == flag_of(cls, name), name
        assert option.help == help_of(cls, name) and option.help, name
        if not option.required:
            default = option.default() if callable(option.default) else option.default
            assert default == default_of(cls, name), name


def test_registry_choices_are_in_the_help_texts():
    assert all(name in help_of(ExpandConfig, "init") for name in init_names())
    fuse_help = command(("fuse",)).help
    assert all(name in fuse_help for name in method_names())


def test_fuse_command_line_forms_become_the_field_values():
    """--langs, --weights and --lambdas are comma lists on the command line; the Python API's lists are the same."""
    cli = FuseOptions(langs="pl, pt,pl", out="x", weights="0.25,0.75", lambdas="0.5,")
    api = FuseOptions(langs=["pl", "pt"], out=Path("x"), weights=[0.25, 0.75], lambdas=[0.5])
    assert cli == api and cli.langs == ["pl", "pt"] and cli.lambdas == [0.5]
    with pytest.raises(LwasrError, match="comma-separated numbers"):
        FuseOptions(langs="pl", out="x", weights="0.5,half")


def test_fuse_method_option_keeps_its_registry_check():
    method = next(p for p in command(("fuse",)).params if p.name == "method")
    assert method.metavar == f"<{'|'.join(method_names())}>" and method.callback is not None
    assert flag_of(ExpandOptions, "similarity_max_utts") == "--sim-max-utts"
