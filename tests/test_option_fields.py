"""Every option of the commands that plan, then run is a field of their config dataclasses: flag, default and help.

Generic: it walks each Typer command's parameters and finds each in the command's config classes. A command
whose options are generated from config fields adds a row to COMMANDS.
"""

from __future__ import annotations

import dataclasses
import enum

import pytest
import typer

from lwasr.cli import app
from lwasr.config_fields import default_of, flag_of, help_of
from lwasr.decoding.command import DecodeConfig
from lwasr.decoding.options import AGNOSTIC_ONLY, DecodeOptions
from lwasr.export.config import ExportConfig
from lwasr.transcribe.config import TranscribeConfig, TranscribeOptions

ROOT = typer.main.get_command(app)
#: command path -> (its config classes, first match wins; the fields that are required here though optional in
#: the Python API)
COMMANDS = {
    ("decode",): ((DecodeConfig, DecodeOptions), ()),
    ("transcribe",): ((TranscribeConfig, TranscribeOptions), ("out",)),
    ("export",): ((ExportConfig,), ()),
}
#: Parameters every such command has that are no config field.
COMMON = {"help", "print_config"}


def command(path: tuple[str, ...]):
    cmd = ROOT
    for name in path:
        cmd = cmd.commands[name]
    return cmd


def owner(name: str, classes: tuple[type, ...]) -> type:
    found = [cls for cls in classes if name in cls.__dataclass_fields__]
    assert found, f"{name} is no field of {', '.join(c.__name__ for c in classes)}"
    return found[0]


def plain(value):
    return value.value if isinstance(value, enum.Enum) else value


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_every_option_is_a_field_with_its_flag_default_and_help(path):
    classes, required_here = COMMANDS[path]
    params = [p for p in command(path).params if p.name not in COMMON]
    assert len(params) > 3
    for p in params:
        cls = owner(p.name, classes)
        assert p.help == help_of(cls, p.name) and p.help, p.name
        default = default_of(cls, p.name)
        if p.param_type_name == "argument":
            assert p.required and default is dataclasses.MISSING, p.name
            continue
        assert p.opts[0] == flag_of(cls, p.name), p.name
        if default is dataclasses.MISSING or p.name in required_here:
            assert p.required, p.name
        else:
            assert not p.required and plain(p.default) == default, p.name


def test_the_flags_that_are_not_the_field_names():
    assert flag_of(DecodeOptions, "trim") == "--trim-encoder-input"
    assert flag_of(ExportConfig, "fmt") == "--format"
    assert flag_of(TranscribeConfig, "formats") == "--format"
    opts = {o for p in command(("decode",)).params for o in p.opts + p.secondary_opts}
    assert {"--trim-encoder-input", "--no-trim-encoder-input", "--print-config"} <= opts


def test_decode_and_transcribe_share_the_decode_options():
    decode = {p.name: p for p in command(("decode",)).params}
    transcribe = {p.name: p for p in command(("transcribe",)).params}
    for f in dataclasses.fields(DecodeOptions):
        if f.name in decode and f.name in transcribe:
            assert decode[f.name].help == transcribe[f.name].help == help_of(DecodeOptions, f.name)
            if f.name in ("temperatures", "no_speech_threshold"):  # openai-whisper's transcribe defaults
                assert transcribe[f.name].default != decode[f.name].default
            else:
                assert decode[f.name].default == transcribe[f.name].default


def test_agnostic_only_fields_come_from_their_metadata():
    assert set(AGNOSTIC_ONLY) == {"lid_langs", "lid_system", "soft_top_k"}


def test_command_line_forms_become_the_field_values():
    """--batch-size 0 is no limit, --lid-langs a comma list; the Python API's forms give the same options."""
    cli = DecodeOptions(batch_size=0, max_duration=30.0, lid_langs="pl, pt,pl")
    api = DecodeOptions(batch_size=None, max_duration=30.0, lid_langs=["pl", "pt"])
    assert cli == api and api.lid_langs == ("pl", "pt") and api.batch_size is None
    assert DecodeOptions(lid_langs="").lid_langs is None
    assert TranscribeConfig(system="s", paths=[], formats="srt, txt").formats == ("srt", "txt")
