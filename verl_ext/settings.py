"""The config blocks revisual adds to verl's ``ppo_trainer`` config, one dataclass per block.

They are validated in the driver before Ray starts, so a misspelt key or a setting that would be
ignored fails at once rather than after the cluster spins up.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Optional

from omegaconf import DictConfig, OmegaConf

from verl_ext.algos.pad import OFFICIAL_CODE_PAD, PRIORITIES, VARIANTS

DEFAULT_RATIO = 0.5
"""rho of ``variant=pad``: half the batch, below the |E|/N the synthetic tasks show (docs/pad.md)."""


@dataclass
class PADConfig:
    """``algorithm.pad``: Prioritized Advantage Distillation (paper §4.1.1) and its Table-4 ablations.

    Every key but ``variant``, ``accuracy_key`` and ``seed`` defaults to null, meaning "the variant's
    value" (see :func:`resolve_pad`). Setting a key that the chosen variant does not use is an
    error, never silently ignored.
    """

    variant: str = "pad"
    """``grpo`` (no PAD), ``filter`` (drop stagnant only), ``random`` (uniform draw of PAD's size from the whole
    batch), ``pad`` (filter + prioritised draw, the paper) or ``official`` (the released code's PAD)."""
    filter_on: Optional[str] = None
    """What makes a sequence eligible. ``reward_std`` (default of filter/random/pad): its group's accuracy
    (``accuracy_key``) has a non-zero spread. ``advantage`` (default of official): the paper's band
    low <= |A| <= high, which with a shaped reward also keeps all-correct groups (their length terms differ)."""
    low: Optional[float] = None
    """T_low of the |A| band (``filter_on=advantage`` only); default 0.01, official 0.03."""
    high: Optional[float] = None
    """T_high of the |A| band (``filter_on=advantage`` only); default none, official 0.97. The released code's
    0.97 drops the rare-outcome samples that carry the signal on hard prompts."""
    strict_band: Optional[bool] = None
    """Use the open band (low, high) as the released code does (``filter_on=advantage`` only)."""
    ratio: Optional[float] = None
    """rho: draw ceil(ratio * N) sequences, capped at |E| without replacement (pad/random: 0.5; official: 1.5)."""
    priority: Optional[str] = None
    """``softmax`` (P ~ exp(|A|/tau), the paper; default of pad) or ``power`` (P ~ |A|^alpha, official)."""
    tau_start: Optional[float] = None
    """Softmax temperature at the first step (default 1.0); decays linearly to ``tau_end``."""
    tau_end: Optional[float] = None
    """Softmax temperature at the last step (default 0.3, Table 5)."""
    alpha: Optional[float] = None
    """Exponent of the power-law priority (official: 1.5)."""
    replacement: Optional[bool] = None
    """Draw with replacement (official) or without (pad, the paper)."""
    accuracy_key: str = "acc"
    """Per-sample accuracy field in the reward's extra info: the ``reward_std`` filter and the stagnation metrics."""
    seed: int = 0
    """Seed of the selection RNG; combined with the step so a resumed run draws the same batches."""

    @property
    def enabled(self) -> bool:
        """Whether the update trains on a selection (every variant but ``grpo``)."""
        return self.variant != "grpo"


_BAND = {"low": 0.01, "high": None, "strict_band": False}
_SOFTMAX = {"priority": "softmax", "tau_start": 1.0, "tau_end": 0.3, "replacement": False}
_VARIANT_DEFAULTS: dict[str, dict] = {
    "grpo": {},
    "filter": {"filter_on": "reward_std", **_BAND},
    "random": {"filter_on": "reward_std", **_BAND, "ratio": DEFAULT_RATIO},
    "pad": {"filter_on": "reward_std", **_BAND, "ratio": DEFAULT_RATIO, **_SOFTMAX},
    "official": {"filter_on": "advantage", **{k: OFFICIAL_CODE_PAD[k] for k in ("low", "high", "strict_band",
                                                                               "ratio", "priority", "alpha",
                                                                               "replacement")}},
}
_ALWAYS = ("variant", "accuracy_key", "seed")
_FALLBACK = {"tau_start": 1.0, "tau_end": 0.3, "alpha": 1.0, "replacement": False}
"""Values of keys a variant uses only when another key switches them on (e.g. priority=power under pad)."""


def _first_set(*values):
    return next((v for v in values if v is not None), None)


def _used_keys(variant: str, filter_on: Optional[str], priority: Optional[str]) -> set[str]:
    used = set(_VARIANT_DEFAULTS[variant])
    if variant in ("pad", "official"):
        used |= {"priority", "tau_start", "tau_end", "alpha", "replacement"}
    if filter_on != "advantage":
        used -= {"low", "high", "strict_band"}
    if priority == "softmax":
        used -= {"alpha"}
    elif priority == "power":
        used -= {"tau_start", "tau_end"}
    return used


def _why_unused(key: str, variant: str) -> str:
    if variant in ("filter", "random", "pad", "official") and key in ("low", "high", "strict_band"):
        return "the |A| band is read only with algorithm.pad.filter_on=advantage"
    if variant in ("pad", "official") and key == "alpha":
        return "alpha is read only with algorithm.pad.priority=power"
    if variant in ("pad", "official") and key in ("tau_start", "tau_end"):
        return "the temperature is read only with algorithm.pad.priority=softmax"
    return f"algorithm.pad.variant={variant} does not read it (docs/pad.md lists the keys of each variant)"


def resolve_pad(cfg: PADConfig) -> PADConfig:
    """A copy of ``cfg`` with every key the variant reads filled in (and the others null); raises
    ``ValueError`` naming a key that is invalid or that the variant would not read."""
    if cfg.variant not in VARIANTS:
        raise ValueError(f"algorithm.pad.variant must be one of {VARIANTS}, got {cfg.variant!r}")
    defaults = _VARIANT_DEFAULTS[cfg.variant]
    given = {f.name: getattr(cfg, f.name) for f in fields(cfg) if f.name not in _ALWAYS}
    filter_on = _first_set(given["filter_on"], defaults.get("filter_on"))
    if cfg.variant != "grpo" and filter_on not in ("advantage", "reward_std"):
        raise ValueError(f"algorithm.pad.filter_on must be 'advantage' or 'reward_std', got {filter_on!r}")
    priority = _first_set(given["priority"], defaults.get("priority"))
    if priority is not None and priority not in PRIORITIES:
        raise ValueError(f"algorithm.pad.priority must be one of {PRIORITIES}, got {priority!r}")
    used = _used_keys(cfg.variant, filter_on, priority)
    for key, value in given.items():
        if value is not None and key not in used:
            raise ValueError(f"algorithm.pad.{key}={value} is not used: {_why_unused(key, cfg.variant)}; remove it")
    values = {key: _first_set(given[key], defaults.get(key), _FALLBACK.get(key)) for key in used}
    resolved = replace(cfg, **values)  # the keys not read are null already
    _check_ranges(resolved)
    return resolved


def _check_ranges(pad: PADConfig) -> None:
    if pad.low is not None and pad.low < 0:
        raise ValueError(f"algorithm.pad.low must be >= 0, got {pad.low}")
    if pad.high is not None and pad.low is not None and pad.high < pad.low:
        raise ValueError(f"algorithm.pad.high ({pad.high}) must be >= algorithm.pad.low ({pad.low})")
    for name in ("ratio", "tau_start", "tau_end", "alpha"):
        value = getattr(pad, name)
        if value is not None and value <= 0:
            raise ValueError(f"algorithm.pad.{name} must be > 0, got {value}")


@dataclass
class EntropyAnnealConfig:
    """``algorithm.entropy_anneal``: the entropy bonus schedule (paper Table 5), one value per optimizer step."""

    enable: bool = True
    """Replace the actor's fixed ``entropy_coeff`` with the schedule below (needs verl to compute entropy:
    ``actor.entropy_coeff`` non-zero or ``actor.calculate_entropy=true``)."""
    init: float = 0.02
    """beta_0: coefficient on the first optimizer step after the warm-up."""
    decay: float = 0.985
    """lambda: multiplied in once per optimizer step after the warm-up."""
    floor: float = 0.0
    """beta_min: the coefficient never goes below this."""
    warmup_steps: int = 140
    """tau_w: optimizer steps with coefficient 0 (paper: 140; released code: 20)."""


@dataclass
class ScheduleConfig:
    """``algorithm.schedule``: skip prompts predicted to give a stagnant group, before the rollout
    (:mod:`verl_ext.algos.schedule`; when to turn it on: docs/pad.md)."""

    enable: bool = False
    """Off by default: turn it on when prompts recur over several epochs (the prediction needs a history)."""
    explore_init: float = 0.5
    """Starting probability of rolling out a prompt that was stagnant once (``p ** streak`` after a streak)."""
    explore_min: float = 0.1
    """Floor of that probability: every prompt keeps a chance to show it stopped being stagnant."""
    target_share: float = 0.125
    """Target share of the batch's groups per stagnant kind (all-correct, all-wrong); above it the scheduler
    skips more, below it explores more."""
    rate: float = 0.05
    """How much each step moves the exploration probabilities towards the target."""
    audit_share: float = 0.1
    """Share of the prompts the rule would skip that are rolled out anyway, to measure its precision."""

    def check(self) -> None:
        for name in ("explore_init", "explore_min", "rate", "target_share"):
            value = getattr(self, name)
            if not 0 < value <= 1:
                raise ValueError(f"algorithm.schedule.{name} must be in (0, 1], got {value}")
        if not 0 <= self.audit_share < 1:
            raise ValueError(f"algorithm.schedule.audit_share must be in [0, 1), got {self.audit_share}")
        if self.explore_min > self.explore_init:
            raise ValueError(f"algorithm.schedule.explore_min ({self.explore_min}) must be <= explore_init "
                             f"({self.explore_init})")


@dataclass
class RevisualAlgorithmConfig:
    pad: PADConfig = field(default_factory=PADConfig)
    entropy_anneal: EntropyAnnealConfig = field(default_factory=EntropyAnnealConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


@dataclass(frozen=True)
class RevisualSettings:
    """Everything the PAD trainer reads from the config, parsed and checked once."""

    pad: PADConfig
    entropy_anneal: EntropyAnnealConfig
    abort_failed_frac: float
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


def _check_rollout_context(config: DictConfig) -> None:
    """vLLM cuts a response at ``max_model_len`` minus its prompt: a context shorter than the two lengths
    would silently shorten responses below ``data.max_response_length`` (verl does not compare them)."""
    rollout = OmegaConf.select(config, "actor_rollout_ref.rollout")
    context = None if rollout is None else rollout.get("max_model_len")
    if context is None or rollout.get("name") != "vllm":
        return
    prompt, response = OmegaConf.select(config, "data.max_prompt_length"), OmegaConf.select(config, "data.max_response_length")
    if prompt is not None and response is not None and context < prompt + response:
        raise ValueError(
            f"actor_rollout_ref.rollout.max_model_len={context} is below data.max_prompt_length + "
            f"data.max_response_length = {prompt} + {response} = {prompt + response}: raise it to at least the sum"
        )


def validate_revisual_config(config: DictConfig) -> RevisualSettings:
    """Check revisual's blocks (``algorithm.pad``, ``algorithm.entropy_anneal``, ``algorithm.schedule``,
    ``reward.abort_failed_frac``)."""
    schema = OmegaConf.structured(RevisualAlgorithmConfig)
    algorithm = config.get("algorithm", {})
    given = {k: algorithm[k] for k in ("pad", "entropy_anneal", "schedule") if k in algorithm}
    try:
        merged = OmegaConf.merge(schema, OmegaConf.create(OmegaConf.to_container(OmegaConf.create(given))))
    except Exception as err:  # omegaconf raises several error types; all mean a bad key or value
        raise ValueError(f"invalid revisual setting under algorithm: {err}") from err
    parsed: RevisualAlgorithmConfig = OmegaConf.to_object(merged)
    anneal = parsed.entropy_anneal
    if anneal.warmup_steps < 0 or not 0 < anneal.decay <= 1 or anneal.init < 0 or anneal.floor < 0:
        raise ValueError(
            "algorithm.entropy_anneal needs warmup_steps >= 0, 0 < decay <= 1, init >= 0 and floor >= 0, got "
            f"{anneal.warmup_steps}, {anneal.decay}, {anneal.init}, {anneal.floor}"
        )
    actor = OmegaConf.select(config, "actor_rollout_ref.actor")
    computes_entropy = actor is None or actor.get("calculate_entropy", False) or actor.get("entropy_coeff", 0.0) != 0
    if anneal.enable and anneal.init > 0 and not computes_entropy:
        raise ValueError(
            "algorithm.entropy_anneal.enable=true but verl would compute no entropy: actor_rollout_ref.actor."
            "entropy_coeff is 0 and calculate_entropy is false, so the scheduled bonus would silently be 0. "
            "Set actor_rollout_ref.actor.entropy_coeff to the schedule's init (the schedule replaces it per "
            "optimizer step), or actor_rollout_ref.actor.calculate_entropy=true, or entropy_anneal.enable=false."
        )
    _refuse_row_reordering(config)
    _check_rollout_context(config)
    rollout = OmegaConf.select(config, "actor_rollout_ref.rollout")
    if rollout is not None and str(rollout.get("logprobs_mode", "")).startswith("raw") and rollout.get("temperature", 1.0) != 1.0:
        raise ValueError(
            f"actor_rollout_ref.rollout.logprobs_mode={rollout.logprobs_mode} returns log-probs before the sampling "
            f"temperature, but temperature={rollout.temperature}: the rollout's log-probs would not be the actor's "
            "(logits / temperature). Use temperature 1.0, or logprobs_mode=processed_logprobs with top_p=1."
        )
    abort = OmegaConf.select(config, "reward.abort_failed_frac", default=1.0)
    abort = 1.0 if abort is None else float(abort)
    if not 0 < abort <= 1:
        raise ValueError(f"reward.abort_failed_frac must be in (0, 1], got {abort}")
    parsed.schedule.check()
    if parsed.schedule.enable and (OmegaConf.select(config, "data.train_max_samples", default=-1) or -1) > 0 \
            and OmegaConf.select(config, "data.seed", default=None) is None:
        # verl draws the data.train_max_samples subset anew at every launch unless data.seed is set, so a
        # resumed run would train on other prompts than the history describes.
        raise ValueError("algorithm.schedule.enable=true with data.train_max_samples needs data.seed: without it "
                         "verl picks another subset of prompts at every launch, including a resume")
    return RevisualSettings(pad=resolve_pad(parsed.pad), entropy_anneal=anneal, abort_failed_frac=abort,
                            schedule=parsed.schedule)



ROW_REORDERING_KEYS = {
    "algorithm.use_pf_ppo": "verl's PF-PPO resamples the batch inside its advantage step and pairs the new "
                            "rows with the old advantages (verl issue 7956)",
}
"""verl options that reorder or resample rows inside ``_compute_advantage``: PAD and the actor trace pair
each row with its advantage and old log-probs by position there, so these are refused."""


def _refuse_row_reordering(config: DictConfig) -> None:
    for key, why in ROW_REORDERING_KEYS.items():
        if OmegaConf.select(config, key, default=False):
            raise ValueError(f"{key}=true is not supported by revisual: {why}. Set {key}=false.")
