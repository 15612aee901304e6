"""The ``lwasr`` command line. Each subcommand group lives in its own module and only parses and delegates."""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any, NoReturn

import click
import typer
from typer.core import TyperGroup
from typer.models import CommandInfo, TyperInfo

from lwasr import __version__
from lwasr.errors import LwasrError

#: Each command, in the order of ``lwasr --help``: ``module`` (its Typer app, a command group) or ``module:function``
#: (a single command). A module is imported only when its command runs or help lists them, so ``lwasr score`` does
#: not pay for torch, transformers and peft, which the training and decoding commands import.
COMMANDS = {
    "env": "lwasr.cli.env:env",
    "lid-similarity": "lwasr.cli.expand:lid_similarity",
    **{
        name: f"lwasr.cli.{name}"
        for name in "prepare train fuse distill expand router decode transcribe score export model".split()
    },
}


class _LazyCommands(Mapping[str, click.Command]):
    """The root group's commands by name: each built from its module (``COMMANDS``) the first time it is looked up."""

    def __init__(self) -> None:
        self._built: dict[str, click.Command] = {}

    def __getitem__(self, name: str) -> click.Command:
        if name not in self._built:
            if name not in COMMANDS:
                raise KeyError(name)
            module, _, function = COMMANDS[name].partition(":")
            loaded = importlib.import_module(module)
            style = {"pretty_exceptions_short": app.pretty_exceptions_short, "rich_markup_mode": app.rich_markup_mode}
            if function:
                info = CommandInfo(name=name, callback=getattr(loaded, function))
                self._built[name] = typer.main.get_command_from_info(info, **style)
            else:
                group = TyperInfo(loaded.app)
                self._built[name] = typer.main.get_group_from_info(
                    group, suggest_commands=app.suggest_commands, **style
                )
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(COMMANDS)

    def __len__(self) -> int:
        return len(COMMANDS)


class _LazyGroup(TyperGroup):
    """The root group, whose commands (``_LazyCommands``) import their modules only when asked for."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _LazyCommands()  # type: ignore[assignment]  # read-only: lwasr adds no command later


app = typer.Typer(
    name="lwasr",
    cls=_LazyGroup,
    help=(
        "Multilingual speech recognition with Whisper and per-language LoRA language experts.\n\n"
        "Typical flow: prepare -> train (experts and baselines) -> fuse / distill / expand -> decode -> score.\n"
        "Recipes in egs/<corpus>/run.sh chain these stages."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"lwasr {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print lwasr's version and exit."
    ),
) -> None:
    """The options every lwasr command shares (`lwasr env` also lists the libraries' versions)."""


#: What to do about an OSError that names a path, by errno (the generic part of "one line, no traceback").
PATH_ERROR_FIXES = {
    errno.EROFS: "choose an output path (--out, --exp-dir) on a writable file system",
    errno.EACCES: "fix its permissions or choose another path",
    errno.EPERM: "fix its permissions or choose another path",
    errno.ENOENT: "check the path",
    errno.ENOTDIR: "check the path: a part of it is a file, not a directory",
    errno.EISDIR: "check the path: it is a directory where a file is expected",
    errno.ENOSPC: "free some space or choose another output path, then rerun",
    errno.EDQUOT: "free some space or choose another output path, then rerun",
}

#: Errnos that, on a path that does not exist, mean it could not be created (a new output, a temporary file).
CREATE_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


def debug_enabled() -> bool:
    """``LWASR_DEBUG=1`` (any value but empty or 0): every error keeps its full Python traceback."""
    return os.environ.get("LWASR_DEBUG", "") not in ("", "0")


def path_error_message(e: OSError) -> str | None:
    """One line for an OSError about a path (read-only, permission, missing...), or None when it names none."""
    fix = PATH_ERROR_FIXES.get(e.errno)
    if fix is None or e.filename is None:
        return None
    path = str(e.filename) + (f" -> {e.filename2}" if e.filename2 is not None else "")
    if e.errno in CREATE_ERRNOS and not os.path.lexists(e.filename):
        path = f"cannot create {path}"
    reason = (e.strerror or os.strerror(e.errno)).lower()
    return f"{path}: {reason}; {fix}"


def _fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    sys.exit(2)


def main() -> None:
    """Entry point of the ``lwasr`` console script: user errors become one clean line and exit status 2.

    User errors are :class:`LwasrError` and OSErrors that name a path (read-only file system, permission
    denied, no such file, no space left). Anything else is a bug and keeps its traceback. ``LWASR_DEBUG=1``
    re-raises every error with its traceback.
    """
    try:
        app()
    except LwasrError as e:
        if debug_enabled():
            raise
        _fail(str(e))
    except OSError as e:
        message = path_error_message(e)
        if message is None or debug_enabled():
            raise
        _fail(message)
