"""Every unit kind's loader: importing this module registers them all in :mod:`lwasr.units.kinds`.

A command that loads ``--system`` units (``decode``, ``transcribe``, ``export``) gets :func:`load_system` from here,
so it loads every kind; a new kind adds the import of the module that registers it.
"""

from lwasr.decoding import systems as _decoding  # base, full, lora, experts
from lwasr.decoding.systems import load_system
from lwasr.expansion import moe as _moe  # moe
from lwasr.routing import system as _router  # router

#: The modules that register unit kinds (imported for that).
PROVIDERS = (_decoding, _moe, _router)

__all__ = ["PROVIDERS", "load_system"]
