"""The registry of ``lwasr fuse --method``: one :class:`FusionMethod` per method, registered once.

Everything that lists or checks the methods reads it: the CLI's choices and help, the validation of
:func:`lwasr.fusion.run.plan`, ``lwasr fuse --list-methods`` (which the recipes ask instead of re-listing the
names), task arithmetic (which methods a λ can scale) and the default weights.

A new method is one module (its code) plus one :func:`register_method` call; a fixed-weight method gives
``fuse``, a function that adds the adapter ``fused`` to a PeftModel holding the experts. This module imports
nothing heavy, so the CLI reads the names cheaply: the built-in methods import their code when they run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lwasr.errors import LwasrError
from lwasr.fusion.config import GATE_FNS, GATES
from lwasr.registry import Registry

if TYPE_CHECKING:
    from peft import LoraConfig, PeftModel

    from lwasr.units.experts import Factors

    ExpertFactors = dict[str, dict[str, Factors]]

#: ``fuse(model, factors, template, weights, *, rank, density, seed)``: add adapter ``fused`` to the PeftModel
#: ``model`` (which holds the experts named by language); ``factors``: language -> module -> Factors.
FuseFn = Callable[..., None]


@dataclass(frozen=True)
class FusionMethod:
    """One fusion method: its name, its help paragraph, and how it fuses.

    A fixed-weight method gives ``fuse``; a trained one ``plan_training(experts_dir, langs, out, *, merge, model,
    config, overrides)`` (its checked training config, nothing loaded) and ``run_training(config)`` (trains, writes
    the unit, returns its directory), as ``learned`` does with :mod:`lwasr.fusion.learned`. ``unit_weights``: default
    weight 1 per expert (the disjoint merges, which already average) instead of 1/n. ``scalable``: ``--lambdas``
    (task arithmetic) may scale its weights. ``settings``: the options it uses (of ``density``, ``seed``), recorded
    in lwasr.json (the fused rank always is). ``systems``: the recipe's names of its variants -> their
    ``lwasr fuse`` options.
    """

    name: str
    help: str
    fuse: FuseFn | None = None
    plan_training: Callable[..., Any] | None = None
    run_training: Callable[[Any], Path] | None = None
    unit_weights: bool = False
    scalable: bool = False
    settings: tuple[str, ...] = ()
    systems: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def trained(self) -> bool:
        return self.plan_training is not None

    def default_weights(self, n: int) -> list[float]:
        """Uniform weights for ``n`` experts: 1 each (``unit_weights``) or 1/n (an average)."""
        return [1.0] * n if self.unit_weights else [1.0 / n] * n


_METHODS: Registry[FusionMethod] = Registry("unknown fusion method {name}; known: {known}")


def register_method(method: FusionMethod) -> FusionMethod:
    """Make ``method`` a choice of ``lwasr fuse --method`` (and of the recipes' ``--fusion-methods``)."""
    return _METHODS.register(method.name, method)


unregister_method = _METHODS.unregister
method_names = _METHODS.names
get_method = _METHODS.get


def methods_help() -> str:
    """The ``Methods (--method)`` paragraphs of ``lwasr fuse --help``."""
    return "\n\n".join(f"  {m.name:<10} {m.help}" for m in _METHODS.items())


def systems() -> dict[str, tuple[str, ...]]:
    """Every system name the recipes accept in ``--fusion-methods`` -> its ``lwasr fuse`` options."""
    return {name: opts for m in _METHODS.items() for name, opts in {m.name: ("--method", m.name), **m.systems}.items()}


# -- the built-in methods --------------------------------------------------------------------------------------


def _sum(model: PeftModel, factors: ExpertFactors, template: LoraConfig, weights: list[float], **_: Any) -> None:
    from lwasr.fusion.static import add_factors, same_modules, sum_factors

    add_factors(model, sum_factors(list(factors.values()), weights), template, same_modules(factors))


def _svd(
    model: PeftModel,
    factors: ExpertFactors,
    template: LoraConfig,
    weights: list[float],
    *,
    rank: int | None = None,
    **_: Any,
) -> None:
    from lwasr.fusion.static import add_factors, same_modules, svd_factors

    per_expert = list(factors.values())
    if rank is None:  # FuseOptions refuses a rank below 1
        rank = max(f.rank for fs in per_expert for f in fs.values())
    add_factors(model, svd_factors(per_expert, weights, rank), template, same_modules(factors))


def _peft(combination: str) -> FuseFn:
    """A method of peft's ``add_weighted_adapter`` (``combination_type``)."""

    def fuse(
        model: PeftModel,
        factors: ExpertFactors,
        template: LoraConfig,
        weights: list[float],
        *,
        density: float = 0.5,
        seed: int = 0,
        **_: Any,
    ) -> None:
        from lwasr.fusion.static import add_peft_merge
        from lwasr.units.experts import check_same_shape

        check_same_shape(factors)
        if not 0.0 < density <= 1.0:
            raise LwasrError(f"--density must be in (0, 1], got {density}")
        add_peft_merge(model, list(factors), weights, combination, density, seed)

    return fuse


def _plan_learned(experts_dir: str | Path, langs: list[str], out: str | Path, **options: Any) -> Any:
    from lwasr.fusion.learned import plan_learned

    return plan_learned(experts_dir, langs, out, **options)


def _run_learned(config: Any) -> Path:
    from lwasr.fusion.learned import run_learned

    return run_learned(config)


def _learned_systems() -> dict[str, tuple[str, ...]]:
    """``learned_<gate>``, ``learned_<fn>``, ``learned_<gate>_<fn>`` (either order) -> their options."""
    out: dict[str, tuple[str, ...]] = {}
    for gate in GATES:
        out[f"learned_{gate}"] = ("--method", "learned", "--gate", gate)
    for fn in GATE_FNS:
        out[f"learned_{fn}"] = ("--method", "learned", "--gate-fn", fn)
        for gate in GATES:
            opts = ("--method", "learned", "--gate", gate, "--gate-fn", fn)
            out[f"learned_{gate}_{fn}"] = out[f"learned_{fn}_{gate}"] = opts
    return out


register_method(
    FusionMethod(
        "sum",
        "exact weighted sum of the experts' updates, sum_i w_i*s_i*B_i@A_i (rank = sum of ranks); default weights 1/n.",
        _sum,
        scalable=True,
    )
)
register_method(
    FusionMethod(
        "svd",
        "the exact sum truncated to rank --rank per module (best rank-r approximation); --rank at least 1, by default"
        " the experts' largest rank.",
        _svd,
        scalable=True,
    )
)
register_method(
    FusionMethod(
        "ties",
        "peft's TIES merge of the A and B factors (trim to --density, sign election, disjoint mean); default weights"
        " 1. Needs equal ranks and target modules.",
        _peft("ties"),
        unit_weights=True,
        settings=("density", "seed"),
    )
)
register_method(
    FusionMethod(
        "dare",
        "peft's dare_linear: random drop to --density, rescale, weighted sum; default weights 1/n. Needs equal ranks"
        " and target modules.",
        _peft("dare_linear"),
        settings=("density", "seed"),
    )
)
register_method(
    FusionMethod(
        "dare_ties",
        "DARE drop followed by TIES sign election; default weights 1.",
        _peft("dare_ties"),
        unit_weights=True,
        settings=("density", "seed"),
    )
)
register_method(
    FusionMethod(
        "learned",
        "experts frozen; one weight per expert and module (--gate) trained on pooled data (--cuts) for two passes"
        " (defaults: lr 1e-2, 2 epochs, validated after each, the best kept), with or without the language token"
        " (--no-lang-token). The learned weighted sum is folded exactly into one adapter, as sum does. Working files"
        " (checkpoints, log): <out parent>/train_<out name>/; an interrupted run resumes, a finished one is skipped."
        " The unit gets gate_trajectory.jsonl and .png: the gate weights over the steps.",
        plan_training=_plan_learned,
        run_training=_run_learned,
        systems=_learned_systems(),
    )
)
