"""Every option of train, fuse, expand, distill and router that is a setting is generated from its config field:
flag name, default and help (issue 25)."""

from __future__ import annotations

import dataclasses

import pytest
import typer

from lwasr.cli import app
from lwasr.distill.config import DistillConfig
from lwasr.expansion.config import ExpandConfig
from lwasr.expansion.inits import init_names
from lwasr.fusion.config import FuseConfig
from lwasr.fusion.methods import method_names
from lwasr.routing.config import RouterConfig
from lwasr.training.config import TrainConfig, default_of, help_of

ROOT = typer.main.get_command(app)
#: command -> (its config class, fields that must be options of it)
COMMANDS = {
    ("train",): (TrainConfig, {"mode", "lang", "cuts", "init_adapter"}),
    ("train", "experts"): (TrainConfig, {"cuts", "lr"}),
    ("fuse",): (FuseConfig, {"experts", "merge", "gate", "gate_fn", "cuts"}),
    ("expand",): (ExpandConfig, {"init", "moe_gate", "lr", "new_lang", "cuts", "dev_cuts", "source", "overwrite"}),
    ("distill",): (DistillConfig, {"name", "teachers", "alpha"}),
    ("router", "train"): (RouterConfig, {f.name for f in dataclasses.fields(RouterConfig)}),
    ("router", "eval"): (RouterConfig, {"batch_size", "device"}),
}
#: Options named like a field of the command's config that are the command's own inputs, not that setting (their
#: type or meaning differs): `train experts --langs` lists the experts to train, the static fusion's --seed is
#: dare's drop seed, expand's --cuts/--dev-cuts are manifests of the new language, and so on. Pinned, so that a
#: new option that drifts from its field fails here.
OWN = {
    ("train", "experts"): {"langs"},
    ("fuse",): {"overwrite", "seed", "model", "langs"},
    ("expand",): {"model"},
}


def command(path):
    cmd = ROOT
    for name in path:
        cmd = cmd.commands[name]
    return cmd


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_setting_option_is_its_field(path):
    cls, required = COMMANDS[path]
    fields = {f.name for f in dataclasses.fields(cls)}
    options = {p.name: p for p in command(path).params if p.param_type_name == "option"}
    assert required <= set(options), required - set(options)
    for name in set(options) & fields - OWN.get(path, set()):
        option = options[name]
        assert option.opts[0] == "--" + name.replace("_", "-"), name
        assert option.help == help_of(cls, name) and option.help, name
        if not option.required:
            default = option.default() if callable(option.default) else option.default
            assert default == default_of(cls, name), name


def test_registry_choices_are_in_the_help_texts():
    assert all(name in help_of(ExpandConfig, "init") for name in init_names())
    fuse_help = command(("fuse",)).help
    assert all(name in fuse_help for name in method_names())
