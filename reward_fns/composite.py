"""Weighted sum of named reward terms, configured from Hydra's ``reward.terms``."""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Mapping
from typing import Any, Callable

from reward_fns.accuracy import score_answer
from reward_fns.equivalence import DEFAULT_TIMEOUT_S
from reward_fns.registry import TERM_INPUTS, get_reward, portable_spec

DEFAULT_TERMS = {"accuracy": 0.9, "efficient_length": 0.1}
_WEIGHT_SUFFIX = re.compile(r"^(?P<rest>.+):(?P<weight>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)$")


def parse_terms(terms: Any) -> list[tuple[str, float]]:
    """Normalise a ``reward.terms`` value into ``[(spec, weight), ...]``.

    Accepts a mapping ``{spec: weight}`` (from YAML or Hydra), a string
    ``"accuracy:0.9,efficient_length:0.1"``, or None (the default terms).  Hydra's override
    parser reads ``{a:0.8,path/f.py:fn:0.2}`` as ``{'a': 0.8, 'path/f.py': 'fn:0.2'}``; that shape
    is recognised and re-joined into ``path/f.py:fn`` with weight 0.2.
    """
    if terms is None:
        return list(DEFAULT_TERMS.items())
    pairs: list[tuple[str, Any]] = []
    if isinstance(terms, str):
        for item in filter(None, (t.strip() for t in terms.split(","))):
            m = _WEIGHT_SUFFIX.match(item)
            if not m:
                raise ValueError(f"reward.terms: item {item!r} must look like name:weight")
            pairs.append((m.group("rest"), m.group("weight")))
    elif isinstance(terms, Mapping) or hasattr(terms, "items"):
        for key, value in terms.items():
            if isinstance(value, str):
                m = _WEIGHT_SUFFIX.match(value)
                if not m:
                    raise ValueError(f"reward.terms.{key}: weight must be a number, got {value!r}")
                pairs.append((f"{key}:{m.group('rest')}", m.group("weight")))
            else:
                pairs.append((str(key), value))
    else:
        raise TypeError(f"reward.terms must be a mapping name->weight, got {type(terms).__name__}: {terms!r}")
    parsed = []
    for spec, weight in pairs:
        try:
            weight = float(weight)
        except (TypeError, ValueError):
            raise ValueError(f"reward.terms.{spec}: weight must be a number, got {weight!r}") from None
        if not math.isfinite(weight):
            raise ValueError(f"reward.terms.{spec}: weight must be finite, got {weight}")
        parsed.append((spec, weight))
    if not parsed:
        raise ValueError("reward.terms is empty: name at least one reward term")
    return parsed


def term_metric_name(spec: str, taken: set[str]) -> str:
    """Short metric name of a term: the function name for ``file.py:fn`` specs."""
    short = spec.rpartition(":")[2] if ":" in spec else spec
    return short if short not in taken else spec


def _wanted_inputs(fn: Callable) -> tuple[set[str], bool]:
    params = inspect.signature(fn).parameters.values()
    takes_kwargs = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params)
    return {p.name for p in params if p.name in TERM_INPUTS}, takes_kwargs


def term_signature_problem(fn: Callable) -> str | None:
    """Why the scorer cannot call ``fn`` (it passes the inputs of :data:`TERM_INPUTS` by name), or None.

    Without this check such a term failed in every scoring process, sample by sample, and the run
    stopped only at ``reward.abort_failed_frac``."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return None  # a builtin without a signature: its call is its own check
    for param in params:
        required = param.default is inspect.Parameter.empty
        if param.kind is inspect.Parameter.POSITIONAL_ONLY and required:
            return (f"{_where(fn)}: parameter {param.name!r} is positional-only; the scorer passes its inputs "
                    "by name")
        if param.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY) and required \
                and param.name not in TERM_INPUTS:
            return (f"{_where(fn)}: needs parameter {param.name!r}, which the scorer does not pass; a term may "
                    f"take any of {', '.join(TERM_INPUTS)} (or give {param.name!r} a default)")
    return None


def _where(fn: Callable) -> str:
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        return f"{name} ({inspect.getsourcefile(fn)}, line {inspect.getsourcelines(fn)[1]})"
    except (OSError, TypeError):
        return name


class CompositeReward:
    """``score = sum(weight * term)`` over named terms; picklable, so it can run in a scoring
    process.

    Calling it returns a flat dict: ``score``, ``acc`` (always present, for PAD),
    ``term/<name>`` for every term, and ``reward_timeout`` / ``reward_error`` flags (0/1).
    """

    def __init__(
        self,
        terms: Any = None,
        *,
        length_budget: int = 4096,
        length_alpha: float = 0.005,
        length_delta: float = 0.5,
    ):
        if int(length_budget) <= 0:
            raise ValueError(f"reward.length_budget must be positive, got {length_budget}")
        self.length_budget = int(length_budget)
        self.length_alpha = float(length_alpha)
        self.length_delta = float(length_delta)
        self.terms: list[tuple[str, str, float]] = []  # (metric name, portable spec, weight)
        taken: set[str] = set()
        for spec, weight in parse_terms(terms):
            # Fail now, with the spec in the message, rather than in a worker for every sample.
            if problem := term_signature_problem(get_reward(spec)):
                raise TypeError(f"reward.terms: {spec!r}: {problem}")
            name = term_metric_name(spec, taken)
            taken.add(name)
            self.terms.append((name, portable_spec(spec), weight))
        self._resolved: dict[str, tuple[Callable, set[str], bool]] | None = None

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_resolved"] = None
        return state

    def _term_fns(self) -> dict[str, tuple[Callable, set[str], bool]]:
        if self._resolved is None:
            resolved = {}
            for _, spec, _ in self.terms:
                fn = get_reward(spec)
                resolved[spec] = (fn, *_wanted_inputs(fn))
            self._resolved = resolved
        return self._resolved

    @property
    def metric_keys(self) -> list[str]:
        """Keys of every result dict, in order (verl needs identical keys for every sample)."""
        return ["score", "acc"] + [f"term/{name}" for name, _, _ in self.terms] + ["reward_timeout", "reward_error"]

    def __call__(
        self,
        response: str,
        ground_truth: str,
        *,
        response_length: int | None = None,
        data_source: str | None = None,
        extra_info: dict | None = None,
        choices: list[str] | None = None,
        symbolic_timeout_s: float | None = DEFAULT_TIMEOUT_S,
        pool=None,
    ) -> dict[str, float]:
        """Score one response.  Raises if a term raises (the reward manager turns that into 0)."""
        extra_info = dict(extra_info or {})
        if choices is None and isinstance(extra_info.get("choices"), (list, tuple)):
            choices = [str(c) for c in extra_info["choices"]]
        answer = score_answer(response, ground_truth, choices=choices, timeout_s=symbolic_timeout_s, pool=pool)
        inputs = {
            "response": response,
            "ground_truth": ground_truth,
            "acc": answer.acc,
            "answer": answer.answer,
            "response_length": response_length,
            "length_budget": self.length_budget,
            "length_alpha": self.length_alpha,
            "length_delta": self.length_delta,
            "data_source": data_source,
            "extra_info": extra_info,
        }
        result: dict[str, float] = {"score": 0.0, "acc": float(answer.acc)}
        total = 0.0
        fns = self._term_fns()
        for name, spec, weight in self.terms:
            fn, wanted, takes_kwargs = fns[spec]
            if "response_length" in wanted and response_length is None:
                raise ValueError(f"reward term {name!r} needs response_length, which the caller did not pass")
            kwargs = inputs if takes_kwargs else {k: inputs[k] for k in wanted}
            value = float(fn(**kwargs))
            if not math.isfinite(value):
                raise ValueError(f"reward term {name!r} returned {value}")
            result[f"term/{name}"] = value
            total += weight * value
        result["score"] = total
        result["reward_timeout"] = 1.0 if answer.timed_out else 0.0
        result["reward_error"] = 1.0 if answer.error else 0.0
        return {key: result[key] for key in self.metric_keys}

    def failed_result(self, *, timed_out: bool) -> dict[str, float]:
        """The result recorded for a sample whose scoring crashed or hung: everything 0."""
        result = {key: 0.0 for key in self.metric_keys}
        result["reward_timeout" if timed_out else "reward_error"] = 1.0
        return result


def compose_rewards(terms: Any = None, **params) -> CompositeReward:
    """Build the composite scorer from ``reward.terms`` (see :func:`parse_terms`) and the
    length parameters ``length_budget``, ``length_alpha``, ``length_delta``."""
    return CompositeReward(terms, **params)


def summarize_reward_infos(infos: list[Mapping[str, Any]], prefix: str = "reward/") -> dict[str, float]:
    """Batch metrics from per-sample result dicts: the mean of ``acc``, ``score`` and every
    ``term/*`` value, and the number of timeouts and errors.

    verl's V1 trainer logs ``reward_extra_info`` only in validation; a sampler (PAD) that reads
    the per-sample info can return these as its metrics so they are logged every training step.
    """
    metrics: dict[str, float] = {}
    if not infos:
        return metrics
    keys = [k for k in infos[0] if k in ("acc", "score") or k.startswith("term/")]
    for key in keys:
        values = [float(info[key]) for info in infos if info.get(key) is not None]
        if values:
            metrics[f"{prefix}{key}/mean"] = sum(values) / len(values)
    for flag, name in (("reward_timeout", "timeouts"), ("reward_error", "errors")):
        metrics[f"{prefix}{name}"] = float(sum(float(info.get(flag) or 0.0) for info in infos))
    return metrics


def score_in_worker(composite: CompositeReward, kwargs: dict) -> dict[str, float]:
    """Entry point the reward manager runs inside a scoring process: the outer deadline covers
    the symbolic step, so math-verify runs in-process here."""
    return composite(**kwargs, symbolic_timeout_s=None)
