"""``lwasr decode`` as two calls: :func:`plan` (checks everything and names the outputs; loads no model, writes
nothing) and :func:`run` (loads the systems and decodes: :func:`lwasr.decoding.search.decode_cuts`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lwasr.config_fields import setting
from lwasr.decoding.options import (
    DecodeOptions,
    SystemRun,
    check_lid_system,
    decode_outputs,
    split_options,
    use_threads,
)
from lwasr.output_lock import holding_lock

if TYPE_CHECKING:  # the systems module imports peft: `lwasr decode --help` needs only the config
    from lwasr.decoding.systems import System

#: Loads a ``--system`` spec (with an optional ``--model`` override) into a :class:`System`.
SystemLoader = Callable[[str, str | None], "System"]


@dataclass(frozen=True, kw_only=True)
class DecodeConfig(SystemRun):
    """One ``lwasr decode``: the system, the manifests, the decode dir(s) and the decode options."""

    cuts: list[Path] = setting(help="Lhotse manifest(s) to decode (repeat the option).")
    out: Path = setting(help="Decode dir, e.g. exp/<tag>/decode_<set>.")
    agnostic_out: Path | None = setting(None, "--scenario both: the agnostic decode dir.")
    overwrite: bool = setting(False, "Discard an existing decode in --out made with other settings.")
    options: DecodeOptions = field(default_factory=DecodeOptions)
    #: The decode dir of each part of the scenario (:func:`decode_outputs`), named by :func:`plan`.
    outputs: dict[str, Path] = field(default_factory=dict)


def plan(**values: Any) -> DecodeConfig:
    """The config of one decode, from the fields of :class:`DecodeConfig` and :class:`DecodeOptions` (by name).

    Checks the options, the systems (their lwasr.json: ``--system`` and ``--lid-system`` must be decodable) and the
    decode dirs, and resolves the device. Side-effect free: loads no model and writes nothing. ``trim`` left
    unset is resolved by :func:`run` from the loaded system (as it was trained).
    """
    from lwasr.decoding.decoder import default_device
    from lwasr.units.kinds import kind_of

    options, rest = split_options(values)
    check_lid_system(options)
    config = DecodeConfig(**rest, options=options)
    outputs = decode_outputs(options.scenario, config.out, config.agnostic_out)
    for spec in (config.system, options.lid_system):
        if spec:
            kind_of(spec)
    return replace(config, device=default_device(config.device), outputs=outputs)


@holding_lock(lambda config, **_: config.outputs.values())
def run(config: DecodeConfig, *, load_system: SystemLoader, progress: bool = True) -> str:
    """Decode as :func:`plan` planned (resuming a matching partial decode); return a one-line summary.

    ``load_system``: the loader of every unit kind (:func:`lwasr.loaders.load_system`; methods above this layer
    register the kinds they write).
    """
    from lwasr.decoding.decoder import default_device
    from lwasr.decoding.search import decode_cuts

    use_threads(config.num_threads)
    opts = config.options
    summary = decode_cuts(
        load_system(config.system, config.model),
        config.cuts,
        config.out,
        opts,
        agnostic_out=config.agnostic_out,
        lid_system=load_system(opts.lid_system, config.model) if opts.lid_system else None,
        device=default_device(config.device),
        step_threads=config.step_threads,
        overwrite=config.overwrite,
        progress=progress,
    )
    where = " and ".join(f"{d}/hyp.jsonl" for d in config.outputs.values())
    return (
        f"{summary['utterances']} utterances -> {where}; RTF {summary['real_time_factor']},"
        f" {summary['utterances_per_second']} utt/s"
    )
