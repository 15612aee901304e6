"""Options of the commands that plan, then run (decode, transcribe, export), generated from their config fields.

Each option is a field of a config dataclass (:class:`lwasr.decoding.options.DecodeOptions`, the command's config),
with its flag, type, default and help (:func:`lwasr.cli.options.field_option`). The command gets them as one
``values`` dict for its library ``plan``, and ``--print-config`` prints what ``plan`` returns, running nothing.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any

import typer

from lwasr.cli.options import _with_options, field_option, setup_logging

PRINT_CONFIG = inspect.Parameter(
    "print_config",
    inspect.Parameter.KEYWORD_ONLY,
    annotation=Annotated[
        bool,
        typer.Option("--print-config", help="Print the planned config (YAML) and exit: nothing is loaded or written."),
    ],
    default=False,
)


def owner(name: str, classes: tuple[type, ...]) -> type:
    """The first of ``classes`` with a field ``name``."""
    return next(cls for cls in classes if name in cls.__dataclass_fields__)


def plan_options(names: tuple[str, ...], *classes: type) -> Callable[[Callable], Callable]:
    """Decorator: one option per field in ``names`` (of the first of ``classes`` that has it), in that order, after
    the command's own parameters, plus ``--print-config``. The command declares ``values`` (the generated options
    by field name) and ``print_config``."""

    def wrap(command: Callable) -> Callable:
        own = [
            p
            for p in inspect.signature(command, eval_str=True).parameters.values()
            if p.name not in ("values", "print_config")
        ]

        @functools.wraps(command)
        def run(**kwargs: Any) -> Any:
            values = {n: kwargs.pop(n) for n in names}
            return command(**kwargs, values=values)

        generated = [field_option(owner(name, classes), name) for name in names]
        return _with_options(run, own, [*generated, PRINT_CONFIG])

    return wrap


def plan_then_run(plan: Callable[..., Any], run: Callable[[Any], Any], print_config: bool, **values: Any) -> Any:
    """``plan(**values)``; with ``--print-config`` print it as YAML and return None, else ``run`` it (with the
    progress lines on stderr) and return what ``run`` returns."""
    from lwasr.config_fields import as_yaml

    config = plan(**values)
    if print_config:
        typer.echo(as_yaml(config), nl=False)
        return None
    setup_logging()
    return run(config)
