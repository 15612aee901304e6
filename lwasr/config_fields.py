"""Config fields: each setting declared once, as a dataclass field with its default and its help.

The command line is generated from these fields (``lwasr.cli.options.field_option``): the option's flag, type,
default and help all come from the field. The metadata keys:

- ``help``: the option's help text;
- ``flag``: the option's name when it is not the field's (``--trim-encoder-input`` for ``trim``);
- ``cli_type``: the type the command line gives when it is not the field's (a comma-separated string for a
  tuple of languages); the config class converts it;
- ``tag``: what else the library needs to know of the field (:func:`tagged`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import field
from typing import Any

import rich.markup

from lwasr.errors import LwasrError


def setting(
    default: Any = dataclasses.MISSING,
    help: str = "",
    *,
    flag: str | None = None,
    cli_type: Any = None,
    tag: str | None = None,
) -> Any:
    """A config field with its default and its help text (the CLI's option help, ``metadata["help"]``).

    Without a default the field (and its option) is required. A list default is copied for each instance.
    ``flag``, ``cli_type`` and ``tag``: see the module doc.
    """
    metadata: dict[str, Any] = {"help": help}
    if flag is not None:
        metadata["flag"] = flag
    if cli_type is not None:
        metadata["cli_type"] = cli_type
    if tag is not None:
        metadata["tag"] = tag
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=metadata)
    return field(default=default, metadata=metadata)


def redefault(cls: type, name: str, default: Any) -> Any:
    """Field ``name`` of the config class ``cls`` with another default (the same help, flag, CLI type and tag): for
    configs built on it."""
    metadata = cls.__dataclass_fields__[name].metadata
    return setting(
        default, metadata["help"], flag=metadata.get("flag"), cli_type=metadata.get("cli_type"), tag=metadata.get("tag")
    )


def help_of(cls: type, name: str) -> str:
    """The help text of field ``name`` of the config class ``cls``, for ``--help``: rich markup escaped, so that
    ``lwasr[qlora]`` is not read as a style tag and dropped."""
    return rich.markup.escape(cls.__dataclass_fields__[name].metadata.get("help", ""))


def flag_of(cls: type, name: str) -> str:
    """The command-line flag of field ``name`` of ``cls``: ``--name-with-dashes`` unless the field names another."""
    return "--" + cls.__dataclass_fields__[name].metadata.get("flag", name.replace("_", "-"))


def default_of(cls: type, name: str) -> Any:
    """The default of field ``name`` of ``cls`` (:data:`dataclasses.MISSING` for a required one)."""
    f = cls.__dataclass_fields__[name]
    return f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default


def finite_numbers(spec: str | Sequence[Any], name: str) -> list[float]:
    """A numeric list option as finite floats: ``spec`` comma-separated (``0.5,0.5``) or a list; NaN, inf or a word
    raises LwasrError naming the option ``name``. Every numeric list setting is read through this."""
    try:
        items = [x for x in spec.split(",") if x.strip()] if isinstance(spec, str) else list(spec)
        if any(isinstance(x, bool) for x in items):
            raise ValueError
        numbers = [float(x) for x in items]
    except (TypeError, ValueError):
        numbers = [math.nan]
    if not all(math.isfinite(x) for x in numbers):
        raise LwasrError(f"{name}: expected comma-separated numbers, all finite; got {spec!r}")
    return numbers


def tagged(cls: type, tag: str) -> tuple[str, ...]:
    """The names of the fields of ``cls`` whose metadata carries ``tag``."""
    return tuple(f.name for f in dataclasses.fields(cls) if f.metadata.get("tag") == tag)


def as_yaml(config: Any) -> str:
    """A config dataclass as YAML (paths as strings, tuples as lists), fields in declaration order."""
    import json

    import yaml

    plain = json.loads(json.dumps(dataclasses.asdict(config), default=str))
    return yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)


def differing(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """The keys whose values differ between two recorded settings (a key on one side only counts), sorted: what a
    command names when it refuses to keep or resume an output made with other settings."""
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
