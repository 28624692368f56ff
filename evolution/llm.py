"""LLM client for the mutation operators: any OpenAI-compatible chat endpoint.

Works with OpenAI itself and with local servers that speak the same
``POST /v1/chat/completions`` protocol (vLLM, Ollama, llama.cpp's server).
Configuration (:class:`LLMSettings`): base URL, model, and the **name** of the
environment variable that holds the API key; the key is read from the
environment when the client is built, kept inside the ``openai`` client
only, and never written to a transcript, a result or a candidate's
environment (sandboxed runs get a scrubbed environment, see
:func:`parevo.toolchain.sandbox.scrubbed_env`).

Failure policy (the ``openai`` client's own retries are disabled so every
attempt is counted and recorded):

* HTTP 408, 409, 429 and 5xx, timeouts and connection errors are retried up
  to ``max_retries`` times with exponential backoff (``backoff_s * 2**k``,
  capped at ``backoff_max_s``; a ``Retry-After`` header wins when shorter than
  the cap);
* a call that still fails raises :class:`LLMError` (the search records a
  failed mutation and goes on);
* authentication errors (401/403), an unknown model (404), an endpoint that
  cannot be reached after the retries, or ``max_consecutive_failures`` failed
  calls in a row raise :class:`LLMUnavailable`: the search says so and
  continues with rule-based candidates and parameter mutations only.

A call runs on a worker thread so that ``cancel`` (a ``threading.Event``)
interrupts the wait at once; the abandoned HTTP request ends by its timeout.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Mapping

from pydantic import BaseModel

from parevo.toolchain.models import ParevoError

ENV_BASE_URL = "PAREVO_LLM_BASE_URL"
ENV_MODEL = "PAREVO_LLM_MODEL"
ENV_KEY_ENV = "PAREVO_LLM_KEY_ENV"
DEFAULT_KEY_ENV = "OPENAI_API_KEY"
NO_KEY = "no-key"  # local servers accept any key; the openai client insists on one


class LLMSettings(BaseModel):
    """Where and how to ask for completions.

    ``base_url`` (``http://127.0.0.1:8000/v1``; None = OpenAI's own endpoint),
    ``model`` (required to use an LLM at all), ``api_key_env`` (the name of
    the environment variable holding the key). Times in seconds;
    ``max_reply_tokens`` bounds one completion; ``temperature`` and the
    per-call ``seed`` are passed to the endpoint (servers may ignore them).
    """

    base_url: str | None = None
    model: str | None = None
    api_key_env: str = DEFAULT_KEY_ENV
    timeout_s: float = 120.0
    max_retries: int = 4
    backoff_s: float = 1.0
    backoff_max_s: float = 30.0
    max_consecutive_failures: int = 3
    temperature: float = 0.7
    max_reply_tokens: int = 4096

    @property
    def configured(self) -> bool:
        """True when a model is named (the base URL defaults to OpenAI's)."""
        return bool(self.model)

    def describe(self) -> str:
        """``model at URL`` for messages (never the key)."""
        return f"{self.model} at {self.base_url or 'https://api.openai.com/v1'}"

    def public(self) -> dict:
        """The settings as recorded in transcripts and results (no secret here: only the variable's name)."""
        return self.model_dump()

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides) -> "LLMSettings | None":
        """Settings from ``PAREVO_LLM_BASE_URL``, ``PAREVO_LLM_MODEL``, ``PAREVO_LLM_KEY_ENV``,
        with non-None ``overrides`` on top; None when no model is configured."""
        env = os.environ if env is None else env
        data = {"base_url": env.get(ENV_BASE_URL) or None, "model": env.get(ENV_MODEL) or None,
                "api_key_env": env.get(ENV_KEY_ENV) or DEFAULT_KEY_ENV}
        data.update({k: v for k, v in overrides.items() if v is not None})
        s = cls(**data)
        return s if s.configured else None


class LLMError(ParevoError):
    """One completion failed (after retries); the search records a failed mutation."""

    def __init__(self, message: str, *, attempts: int = 1, status: int | None = None):
        super().__init__(message)
        self.attempts = attempts
        self.status = status


class LLMUnavailable(LLMError):
    """The endpoint cannot be used at all (down, refused the key, unknown model)."""


class LLMCancelled(ParevoError):
    """The wait for a completion was cancelled."""


class ChatReply(BaseModel):
    """One completion: its text, token usage (as the endpoint reported it, else
    estimated at 4 characters a token), attempts made and seconds waited."""

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    attempts: int = 1
    seconds: float = 0.0
    model: str | None = None
    finish_reason: str | None = None
    estimated_usage: bool = False


def estimate_tokens(text: str) -> int:
    """Rough token count of ``text`` (4 characters a token), for endpoints that report no usage."""
    return max(1, len(text) // 4)


_RETRY_STATUS = {408, 409, 429}
_FATAL_STATUS = {401, 403, 404}


def _retry_after(exc) -> float | None:
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


class LLMClient:
    """A chat-completions client with counted retries, backoff and cancellation.

    Args:
        settings: endpoint, model, key variable, timeouts and retry policy.
        env: where to read the key (default ``os.environ``).
        cancel: when set, :meth:`chat` raises :class:`LLMCancelled`.
        sleep: ``sleep(seconds)`` between attempts (tests pass a fake);
            default waits on ``cancel`` so a cancel interrupts the backoff.

    ``retries`` counts attempts beyond the first over the client's life.
    """

    def __init__(self, settings: LLMSettings, *, env: Mapping[str, str] | None = None,
                 cancel: threading.Event | None = None, sleep: Callable[[float], None] | None = None):
        import openai  # imported here: only searches with an endpoint pay for it

        self._openai = openai
        self.settings = settings
        self.cancel = cancel or threading.Event()
        self._sleep = sleep or (lambda s: self.cancel.wait(s))
        env = os.environ if env is None else env
        key = env.get(settings.api_key_env) or NO_KEY
        self.key_present = key != NO_KEY
        self._client = openai.OpenAI(api_key=key, base_url=settings.base_url, timeout=settings.timeout_s,
                                     max_retries=0)
        self.retries = 0
        self.consecutive_failures = 0

    # ---------------------------------------------------------------- helpers
    def _call(self, messages: list[dict], max_tokens: int, seed: int | None):
        """One HTTP attempt on a worker thread; returns the completion or raises its exception."""
        box: dict = {}

        def work():
            try:
                kwargs = dict(model=self.settings.model, messages=messages, temperature=self.settings.temperature,
                              max_tokens=max_tokens)
                if seed is not None:
                    kwargs["seed"] = seed
                box["value"] = self._client.chat.completions.create(**kwargs)
            except BaseException as e:  # noqa: BLE001 - handed to the caller
                box["error"] = e

        t = threading.Thread(target=work, name="parevo-llm", daemon=True)
        t.start()
        while t.is_alive():
            t.join(0.05)
            if self.cancel.is_set():
                raise LLMCancelled("cancelled while waiting for the LLM")
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _classify(self, exc) -> tuple[str, int | None, str]:
        """``(kind, status, message)``: kind is ``retry``, ``fatal`` or ``fail``."""
        o = self._openai
        where = self.settings.describe()
        if isinstance(exc, o.APITimeoutError):
            return "retry", None, f"no reply from {where} within {self.settings.timeout_s:g} s"
        if isinstance(exc, o.APIConnectionError):
            return "retry", None, f"cannot reach {where}: {exc.__cause__ or exc}"
        if isinstance(exc, o.APIStatusError):
            status = exc.status_code
            msg = f"{where} answered HTTP {status}: {str(exc)[:300]}"
            if status in _RETRY_STATUS or status >= 500:
                return "retry", status, msg
            if status in _FATAL_STATUS:
                hint = (f" (is ${self.settings.api_key_env} set to a valid key?)" if status in (401, 403)
                        else " (is the model name right?)")
                return "fatal", status, msg + hint
            return "fail", status, msg
        return "fail", None, f"unexpected error from {where}: {type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------- API
    def chat(self, messages: list[dict], *, max_tokens: int | None = None, seed: int | None = None) -> ChatReply:
        """Ask for one completion of ``messages`` (``[{"role", "content"}]``).

        Raises:
            LLMError: the call failed after its retries (or was refused, e.g. HTTP 400).
            LLMUnavailable: the endpoint cannot be used (see the module docstring).
            LLMCancelled: ``cancel`` was set.
        """
        s = self.settings
        max_tokens = max(1, min(max_tokens or s.max_reply_tokens, s.max_reply_tokens))
        t0 = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            try:
                resp = self._call(messages, max_tokens, seed)
            except LLMCancelled:
                raise
            except Exception as exc:  # noqa: BLE001 - classified below
                kind, status, msg = self._classify(exc)
                if kind == "retry" and attempt <= s.max_retries:
                    self.retries += 1
                    delay = min(s.backoff_max_s, s.backoff_s * (2 ** (attempt - 1)))
                    ra = _retry_after(exc)
                    if ra is not None:
                        delay = min(s.backoff_max_s, max(ra, 0.0))
                    self._sleep(delay)
                    if self.cancel.is_set():
                        raise LLMCancelled("cancelled while waiting to retry the LLM call") from None
                    continue
                self.consecutive_failures += 1
                unreachable = kind == "retry" and status is None and "cannot reach" in msg
                if kind == "fatal" or unreachable or self.consecutive_failures >= s.max_consecutive_failures:
                    raise LLMUnavailable(msg + (f" (after {attempt} attempts)" if attempt > 1 else ""),
                                         attempts=attempt, status=status) from None
                raise LLMError(msg + (f" (after {attempt} attempts)" if attempt > 1 else ""),
                               attempts=attempt, status=status) from None
            break
        self.consecutive_failures = 0
        choice = resp.choices[0] if getattr(resp, "choices", None) else None
        text = (choice.message.content if choice is not None and choice.message is not None else None) or ""
        usage = getattr(resp, "usage", None)
        pt = getattr(usage, "prompt_tokens", None) if usage is not None else None
        ct = getattr(usage, "completion_tokens", None) if usage is not None else None
        estimated = pt is None or ct is None
        if pt is None:
            pt = estimate_tokens("".join(str(m.get("content", "")) for m in messages))
        if ct is None:
            ct = estimate_tokens(text)
        return ChatReply(text=text, prompt_tokens=int(pt), completion_tokens=int(ct), attempts=attempt,
                         seconds=time.monotonic() - t0, model=getattr(resp, "model", None),
                         finish_reason=getattr(choice, "finish_reason", None), estimated_usage=estimated)
