"""Every registration of a higher layer into a lower one: importing this module registers every unit kind's loader
in :mod:`lwasr.units.kinds` and every validation metric in :mod:`lwasr.training.validation`.

A command that loads ``--system`` units (``decode``, ``transcribe``, ``export``) gets :func:`load_system` from here,
so it loads every kind; the commands that train import this module before they run (a ``valid_metric`` of
``wer``). A new kind or metric adds the import of the module that registers it.
"""

from lwasr.decoding import systems as _decoding  # base, full, lora, experts
from lwasr.decoding.systems import load_system
from lwasr.expansion import moe as _moe  # moe
from lwasr.routing import system as _router  # router
from lwasr.validation import wer as _wer  # valid_metric wer

#: The modules that register unit kinds (imported for that).
PROVIDERS = (_decoding, _moe, _router)
#: The modules that register validation metrics.
METRIC_PROVIDERS = (_wer,)


def register_all() -> None:
    """Nothing more to do: importing this module registered everything. A spawned process is given this function
    (:func:`lwasr.training.experts.train_experts`' ``setup``), and unpickling it imports the module there too."""


__all__ = ["METRIC_PROVIDERS", "PROVIDERS", "load_system", "register_all"]
