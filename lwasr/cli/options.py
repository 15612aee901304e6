"""Options of the commands that train, generated from the fields of their config dataclasses.

A setting is declared once, as a field of its config class (:class:`lwasr.training.config.TrainConfig` and the
configs built on it) with its type, default and help. :func:`training_options` turns the fields a command
exposes into Typer options (as ``transformers.HfArgumentParser`` does from dataclasses) and adds ``--config``,
``--print-config`` and ``--set``; the command receives them as one :class:`Settings`.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from lwasr.config_fields import default_of, flag_of, help_of

#: The training settings every training command exposes as options (others: ``--set key=value``).
TRAIN_OPTIONS = (
    "cuts",
    "dev_cuts",
    "model",
    "exp_dir",
    "lang_token",
    "trim_encoder_input",
    "quantize_base",
    "max_duration",
    "lr",
    "max_steps",
    "num_epochs",
    "accum_grad",
    "lora_rank",
    "precision",
    "frozen_dtype",
    "num_workers",
    "resume",
    "overwrite",
)


@dataclass
class Settings:
    """What a training command was given: ``--config``, the settings set on the command line, ``--print-config``."""

    config: Path | None
    given: dict[str, Any]  # --set items, then the generated options the user gave (those win)
    print_config: bool

    def overrides(self, **own: Any) -> dict[str, Any]:
        """The overrides of the config file: :attr:`given` plus the command's own values that are not None."""
        return {**self.given, **{k: v for k, v in own.items() if v is not None}}

    def execute(self, plan: Callable[[], Any], run: Callable[[Any], Any]) -> None:
        """``run(plan())`` and print what it returns (one line per item of a list).

        ``plan`` resolves and checks the command's work without side effects and returns it (an object with
        ``to_yaml()``); with ``--print-config`` only ``plan`` is called and its YAML printed: nothing is loaded,
        written or deleted.
        """
        job = plan()
        if self.print_config:
            typer.echo(job.to_yaml(), nl=False)
            return
        import lwasr.loaders  # noqa: F401  (registers the validation metrics a run may use: valid_metric wer)

        result = run(job)
        for line in result if isinstance(result, list) else [result]:
            typer.echo(line)


def setup_logging() -> None:
    """Progress lines on stderr: ``[lwasr] ...``."""
    logging.basicConfig(level=logging.INFO, format="[lwasr] %(message)s")


def field_option(cls: type, name: str, required: bool = False, **option: Any) -> inspect.Parameter:
    """The Typer option of field ``name`` of ``cls``: ``--name-with-dashes``, the field's type, default and help.

    A bool field that defaults to True (or None: unset) is a ``--x/--no-x`` switch, one that defaults to False a
    ``--x`` flag. The field's metadata may name another flag or command-line type (:mod:`lwasr.config_fields`); a
    field without a default, or with ``required``, is a required option (the command needs it). ``option``: more
    ``typer.Option`` arguments (a parser callback, a metavar).
    """
    f = cls.__dataclass_fields__[name]
    hint = f.metadata.get("cli_type", typing.get_type_hints(cls)[name])
    default = default_of(cls, name)
    flag = flag_of(cls, name)
    if (hint is bool and default) or hint == bool | None:
        flag += f"/--no-{flag[2:]}"
    option = typer.Option(flag, help=help_of(cls, name), **option)
    default = inspect.Parameter.empty if required or default is dataclasses.MISSING else default
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[hint, option], default=default)


def field_options(cls: type, names: tuple[str, ...], **option: dict[str, Any]) -> Callable[[Callable], Callable]:
    """Decorator: one option per field in ``names`` of ``cls``, in that order, before the command's own parameters
    (``option[name]``: more ``typer.Option`` arguments of that one). The command declares ``values`` and receives
    them there by field name, for its library ``plan``."""

    def wrap(command: Callable) -> Callable:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "values"]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            values = {n: kwargs.pop(n) for n in names}
            return command(**kwargs, values=values)

        return _with_options(run, [field_option(cls, name, **option.get(name, {})) for name in names] + own, [])

    return wrap


_COMMON = [
    inspect.Parameter(
        "config",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[
            Path | None,
            typer.Option("--config", help="YAML config (ESPnet style conf/*.yaml): the settings that differ."),
        ],
        default=None,
    ),
    inspect.Parameter(
        "print_config",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[
            bool, typer.Option("--print-config", help="Print the resolved config (YAML) and exit without training.")
        ],
        default=False,
    ),
    inspect.Parameter(
        "set_items",
        inspect.Parameter.KEYWORD_ONLY,
        annotation=Annotated[
            list[str] | None,
            typer.Option(
                "--set",
                help="Any other setting as key=value (YAML value), e.g. --set speed_perturb=[0.9,1.1]; repeatable.",
            ),
        ],
        default=None,
    ),
]


_CTX = "lwasr_options_ctx"  # the click context, to tell the options given from the defaults


def training_options(
    cls: type, names: tuple[str, ...] = TRAIN_OPTIONS, passed: tuple[str, ...] = (), required: tuple[str, ...] = ()
) -> Callable[[Callable], Callable]:
    """Decorator: give the command one option per field in ``names`` of ``cls``, plus the common options.

    The command declares a parameter ``settings: Settings`` and receives them there. An option counts as given
    only when it is on the command line, so the config file (or the defaults) decide the rest. The fields in
    ``passed`` are options too, handed to the command as keyword arguments of their own name (the command does
    not declare them); those in ``required`` have no default.
    """

    def wrap(command: Callable) -> Callable:
        params = inspect.signature(command, eval_str=True).parameters.values()
        own = [p for p in params if p.name != "settings" and p.name not in passed]
        generated = [field_option(cls, name, name in required) for name in names + passed]
        added = {p.name for p in generated + _COMMON}

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            from lwasr.training.config import parse_override

            ctx = kwargs[ctx_name] if ctx_name != _CTX else kwargs.pop(_CTX)
            given = dict(parse_override(item) for item in kwargs.pop("set_items") or [])
            given |= {n: kwargs[n] for n in names if ctx.get_parameter_source(n).name != "DEFAULT"}
            settings = Settings(kwargs.pop("config"), given, kwargs.pop("print_config"))
            mine = {k: v for k, v in kwargs.items() if k not in added or k in passed}
            return command(**mine, settings=settings)

        ctx_name = next((p.name for p in own if p.annotation is typer.Context), _CTX)  # Typer passes only one
        context = [inspect.Parameter(_CTX, inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context)]
        return _with_options(run, own, generated + _COMMON + (context if ctx_name == _CTX else []))

    return wrap


def _with_options(run: Callable, own: list[inspect.Parameter], added: list[inspect.Parameter]) -> Callable:
    """``run`` with the signature Typer reads: the command's own parameters, then ``added``."""
    params = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own] + added
    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params}
    del run.__wrapped__  # Typer reads the signature above, not the command's
    return run


def config_options(cls: type, names: tuple[str, ...] | None = None) -> Callable[[Callable], Callable]:
    """Decorator: one option per field in ``names`` (default: all) of the config dataclass ``cls``; the command
    declares a parameter ``config`` and receives them there as one ``cls`` (its other fields at their defaults).

    For commands whose settings are a plain config, without the YAML files of the training commands.
    """
    names = names or tuple(f.name for f in dataclasses.fields(cls))

    def wrap(command: Callable) -> Callable:
        own = [p for p in inspect.signature(command, eval_str=True).parameters.values() if p.name != "config"]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            config = cls(**{n: kwargs.pop(n) for n in names})
            return command(**kwargs, config=config)

        return _with_options(run, own, [field_option(cls, name) for name in names])

    return wrap
