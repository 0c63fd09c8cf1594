"""Calls to an OpenAI-compatible chat endpoint (``vllm serve``, or any hosted API), cached, with
timeouts and retries.

The ``openai`` client does the HTTP; its own retries are off so that every attempt, and the
back-off between attempts, is decided here: connection errors, timeouts, 408/409/429/5xx answers
and malformed replies are retried with exponential back-off and jitter; other 4xx answers (wrong
model name, bad request) fail at once. After ``give_up_after`` failed calls in a row the judge is
taken to be down, and the remaining calls fail at once instead of each waiting through its
retries.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from revisual_eval.judge_cache import JudgeCache, request_key

_RETRIED_STATUS = {408, 409, 429}


@dataclass
class JudgeSettings:
    """How to reach the judge and how hard to try."""

    url: str
    """Base URL of the OpenAI-compatible API, e.g. ``http://judge-node:8000/v1``."""
    model: str
    """Model name the endpoint serves (``vllm serve NAME`` serves it as NAME, or ``--served-model-name``)."""
    api_key: str = "EMPTY"
    """Sent as the bearer token; vLLM without ``--api-key`` accepts anything."""
    concurrency: int = 8
    """Calls in flight at once."""
    timeout_s: float = 120.0
    """Total limit for one HTTP call (connect, send, wait, read), not per read: see ``judge_deadline``."""
    retries: int = 3
    """Further attempts after a failed one."""
    backoff_s: float = 1.0
    """First wait before a retry; doubled each time (with up to 50 % jitter), capped at 30 s."""
    give_up_after: int = 20
    """Failed calls in a row after which the judge counts as down and no more calls are made."""
    max_tokens: int = 256
    """Reply length limit (the replies are one short line)."""
    max_response_chars: int = 6000
    """The judge sees at most this many characters from the end of a response (after ``</think>``)."""
    cache_path: Path | None = None
    """SQLite file of cached replies; ``score`` defaults it to ``RUN_DIR/judge_cache.sqlite``."""

    def __post_init__(self):
        if not isinstance(self.url, str) or not self.url.startswith(("http://", "https://")):
            raise ValueError(f"judge url must start with http:// or https://, got {self.url!r}")
        if not isinstance(self.model, str) or not self.model.strip():
            raise ValueError("judge model must be a non-empty name")
        for name in ("concurrency", "give_up_after", "max_tokens", "max_response_chars"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"judge {name} must be >= 1, got {getattr(self, name)}")
        if self.retries < 0:
            raise ValueError(f"judge retries must be >= 0, got {self.retries}")
        if not self.timeout_s > 0 or self.backoff_s < 0:
            raise ValueError(f"judge timeout must be > 0 and back-off >= 0, got {self.timeout_s} and {self.backoff_s}")


class JudgeCallError(RuntimeError):
    """A judge call that failed after its retries (or was not made because the judge is down)."""


class JudgeClient:
    """``ask(messages) -> reply``: cached, retried, thread-safe.

    Counted in one unit, requests (one ``ask``): ``requests`` sent to the endpoint,
    ``failed_requests`` among them (after their retries, or not sent because the judge is down),
    ``cache_hits`` answered from the cache. ``http_attempts`` counts HTTP calls, retries included."""

    def __init__(self, settings: JudgeSettings, cache: JudgeCache):
        self.settings = settings
        self.cache = cache
        self._client = _openai_client(settings)
        self._lock = threading.Lock()
        self._failures_in_a_row = 0
        self.requests = 0
        self.http_attempts = 0
        self.cache_hits = 0
        self.failed_requests = 0

    def _request(self, messages: list[dict]) -> dict:
        return {"messages": messages, "temperature": 0.0, "max_tokens": self.settings.max_tokens}

    def ask(self, messages: list[dict]) -> str:
        """The judge's reply to ``messages``, from the cache when it has been asked before."""
        request = self._request(messages)
        key = request_key(self.settings.model, request)
        cached = self.cache.get(key)
        if cached is not None:
            with self._lock:
                self.cache_hits += 1
            return cached
        with self._lock:
            self.requests += 1
            if self._failures_in_a_row >= self.settings.give_up_after:
                self.failed_requests += 1
                raise JudgeCallError(f"judge down: {self._failures_in_a_row} calls in a row failed; not called")
        try:
            reply = self._call_with_retries(request)
        except JudgeCallError:
            with self._lock:
                self.failed_requests += 1
                self._failures_in_a_row += 1
            raise
        with self._lock:
            self._failures_in_a_row = 0
        self.cache.put(key, self.settings.model, request, reply)
        return reply

    def _call_with_retries(self, request: dict) -> str:
        import openai

        attempts = self.settings.retries + 1
        last = "no attempt"
        for attempt in range(attempts):
            if attempt:
                delay = min(30.0, self.settings.backoff_s * 2 ** (attempt - 1))
                time.sleep(delay * (1 + 0.5 * random.random()))
            with self._lock:
                self.http_attempts += 1
            try:
                completion = self._client.chat.completions.create(model=self.settings.model, **request)
                return reply_text(completion)
            except openai.APIStatusError as exc:
                last = f"HTTP {exc.status_code}: {str(exc)[:200]}"
                if exc.status_code < 500 and exc.status_code not in _RETRIED_STATUS:
                    break  # the request itself is wrong: asking again gives the same answer
            except openai.APITimeoutError:
                last = f"timed out after {self.settings.timeout_s:g} s"
            except openai.APIConnectionError as exc:
                last = f"connection failed: {exc.__cause__ or exc}"
            except ValueError as exc:  # malformed JSON, or JSON without a reply in it
                last = f"malformed reply: {str(exc)[:200]}"
        raise JudgeCallError(f"{last} (after {attempt + 1} attempt{'s' if attempt else ''})")


def _openai_client(settings: JudgeSettings):
    """The OpenAI client of a judge endpoint, without retries (the caller counts and retries).

    ``timeout_s`` bounds the whole call, not each read: a trickling judge never hit httpx's read timeout."""
    from openai import OpenAI  # imported here: scoring without a judge never loads it

    from revisual_eval.judge_deadline import deadline_http_client

    return OpenAI(base_url=settings.url, api_key=settings.api_key, timeout=settings.timeout_s, max_retries=0,
                  http_client=deadline_http_client(settings.timeout_s))


def check_judge(settings: JudgeSettings) -> None:
    """One cheap request (a one-token reply) to the endpoint and model, before any real work.

    Raises :class:`JudgeCallError` with a one-line reason (endpoint unreachable, model unknown,
    key refused, reply malformed): a judge that cannot answer this would otherwise leave every row
    on its rule verdict, and a judged column equal to the rules."""
    import openai

    # The same client as every judged call, so the same total deadline: a judge that trickles its answer
    # must not hold the check.
    client = _openai_client(settings)
    where = f"judge {settings.url} model {settings.model!r}"
    try:
        completion = client.chat.completions.create(
            model=settings.model, messages=[{"role": "user", "content": "Reply with the word OK."}], temperature=0.0, max_tokens=1
        )
        reply_text(completion)
    except openai.APIStatusError as exc:
        raise JudgeCallError(f"{where}: HTTP {exc.status_code}: {_one_line(exc)}") from None
    except openai.APITimeoutError:
        raise JudgeCallError(f"{where}: no reply within {settings.timeout_s:g} s (--judge-timeout)") from None
    except openai.APIConnectionError as exc:
        raise JudgeCallError(f"{where}: cannot connect ({_one_line(exc.__cause__ or exc)})") from None
    except ValueError as exc:
        raise JudgeCallError(f"{where}: malformed reply ({_one_line(exc)})") from None


def _one_line(value) -> str:
    return " ".join(str(value).split())[:200]


def reply_text(completion) -> str:
    """The text of the first choice of a chat completion; ValueError if there is none."""
    choices = getattr(completion, "choices", None)
    if not choices:
        raise ValueError("no choices in the reply")
    content = getattr(getattr(choices[0], "message", None), "content", None)
    if not isinstance(content, str):
        raise ValueError("the first choice has no text content")
    return content
