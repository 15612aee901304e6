"""A registry of named extension points (fusion methods, expansion inits...): each item registered once, by name.

The package that owns an extension point keeps one :class:`Registry`; everything that lists or checks its names
(the CLI's choices and help, config validation, the recipes) reads it, so a new item is one registration.
"""

from __future__ import annotations

from typing import Generic, TypeVar

from lwasr.errors import LwasrError

T = TypeVar("T")


class Registry(Generic[T]):
    """Items by name, in registration order. ``unknown``: the error for a name not registered, a format string with
    ``{name}`` (its repr) and ``{known}`` (the registered names)."""

    def __init__(self, unknown: str) -> None:
        self._items: dict[str, T] = {}
        self._unknown = unknown

    def register(self, name: str, item: T) -> T:
        """Register ``item`` as ``name``; a name registered twice is a programming error."""
        if name in self._items:
            raise ValueError(f"{name!r} is registered twice")
        self._items[name] = item
        return item

    def unregister(self, name: str) -> None:
        """Remove ``name`` (tests that register a toy item)."""
        self._items.pop(name, None)

    def names(self) -> tuple[str, ...]:
        return tuple(self._items)

    def items(self) -> list[T]:
        return list(self._items.values())

    def get(self, name: str) -> T:
        """The item ``name``; LwasrError naming the registered ones when there is none."""
        if name not in self._items:
            raise LwasrError(self._unknown.format(name=repr(name), known=", ".join(self._items)))
        return self._items[name]
