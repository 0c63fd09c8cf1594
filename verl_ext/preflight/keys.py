"""Settings a launch reads itself: numbers of the right type, and reward terms that import and fit.

A Hydra override takes whatever it is given (``reward.score_timeout_s=abc`` is the string ``'abc'``);
the launcher, the reward manager or verl then fails on it with a bare ``ValueError`` or
``TypeError``, some of them only inside Ray. A reward term file with a syntax error, a missing
function or a signature the scorer cannot call failed in every scoring process, per sample, and the
step stopped only at ``reward.abort_failed_frac``, with the real error a thousand lines up the log.
Both are checked here, before Ray starts, naming the key (and the file and line).
"""

from __future__ import annotations

import numbers

from omegaconf import OmegaConf

# Keys read as integers or floats by the launchers, the reward manager and PAD (None = verl's default applies).
INTEGER_KEYS = (
    "data.train_batch_size", "data.max_prompt_length", "data.max_response_length",
    "trainer.total_epochs", "trainer.total_training_steps", "trainer.save_freq", "trainer.test_freq",
    "trainer.nnodes", "trainer.n_gpus_per_node", "reward.score_workers", "reward.length_budget",
)
FLOAT_KEYS = (
    "reward.score_timeout_s", "reward.abort_failed_frac", "reward.length_alpha", "reward.length_delta",
)


class BadSetting(ValueError):
    """A setting of the wrong type, or a reward term that cannot be used."""


def check_number_keys(config, integers=INTEGER_KEYS, floats=FLOAT_KEYS) -> None:
    """Each key given must hold an integer (``integers``) or a number (``floats``); booleans are neither."""
    for keys, kind, accepted in ((integers, "an integer", numbers.Integral), (floats, "a number", numbers.Real)):
        for key in keys:
            value = OmegaConf.select(config, key, default=None)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, accepted):
                raise BadSetting(f"{key} must be {kind}, got {value!r} ({type(value).__name__})")


def describe_import_error(spec: str, error: BaseException) -> str:
    """The error of loading one term, with the file and line for a syntax error."""
    if isinstance(error, SyntaxError):
        return (f"reward.terms: {spec!r}: SyntaxError in {error.filename}, line {error.lineno}: {error.msg}"
                + (f": {error.text.strip()}" if error.text else ""))
    where = ""
    tb = error.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is not None and tb.tb_frame.f_code.co_filename.endswith(".py") and ":" in spec:
        where = f" ({tb.tb_frame.f_code.co_filename}, line {tb.tb_lineno})"
    return f"reward.terms: {spec!r}: {type(error).__name__}: {error}{where}"


def check_reward_terms(config) -> None:
    """Import every term of ``reward.terms`` and check that the scorer can call it, as the scoring processes will."""
    from reward_fns.composite import compose_rewards, parse_terms, term_signature_problem
    from reward_fns.registry import get_reward

    terms = OmegaConf.select(config, "reward.terms", default=None)
    if terms is not None and OmegaConf.is_config(terms):
        terms = OmegaConf.to_container(terms, resolve=True)
    try:
        specs = parse_terms(terms)
    except (TypeError, ValueError) as error:
        raise BadSetting(str(error)) from error
    for spec, _ in specs:
        try:
            fn = get_reward(spec)
        except Exception as error:  # noqa: BLE001 - any error a user's file raises on import is reported
            raise BadSetting(describe_import_error(spec, error)) from error
        if problem := term_signature_problem(fn):
            raise BadSetting(f"reward.terms: {spec!r}: {problem}")
    try:
        compose_rewards(terms)  # the manager's own construction: metric names, portable specs
    except Exception as error:  # noqa: BLE001
        raise BadSetting(f"reward.terms: {type(error).__name__}: {error}") from error

