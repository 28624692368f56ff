"""The LLM client against a loopback OpenAI-compatible server: retries, backoff, failures, cancel, the key."""

from __future__ import annotations

import threading
import time

import pytest

from llm_fakes import FakeOpenAI, closed_port_url
from parevo.evolution.llm import LLMCancelled, LLMClient, LLMError, LLMSettings, LLMUnavailable
from parevo.toolchain.sandbox import run_sandboxed

pytestmark = pytest.mark.fast

MSGS = [{"role": "user", "content": "hello"}]


def client(url, sleeps=None, **kw) -> LLMClient:
    settings = LLMSettings(base_url=url, model="m", api_key_env="PAREVO_TEST_KEY",
                           **{"backoff_s": 0.5, "timeout_s": 5, "max_retries": 3, **kw})
    return LLMClient(settings, env={"PAREVO_TEST_KEY": "sk-abc"},
                     sleep=(sleeps.append if sleeps is not None else None))


def seq(*actions):
    return lambda body, i: actions[min(i, len(actions) - 1)]


def test_backoff_doubles_and_retry_after_wins():
    sleeps: list[float] = []
    with FakeOpenAI(seq({"status": 500}, {"status": 502}, {"status": 429, "headers": {"Retry-After": "0.25"}},
                        {"reply": "ok", "usage": (7, 3)})) as srv:
        reply = client(srv.base_url, sleeps).chat(MSGS, max_tokens=99, seed=5)
    assert reply.text == "ok" and reply.attempts == 4 and (reply.prompt_tokens, reply.completion_tokens) == (7, 3)
    assert sleeps == [0.5, 1.0, 0.25]
    assert srv.requests[0]["max_tokens"] == 99 and srv.requests[0]["seed"] == 5 and srv.requests[0]["model"] == "m"


def test_persistent_server_errors_fail_the_call_then_mark_the_endpoint_unavailable():
    with FakeOpenAI(seq({"status": 500})) as srv:
        c = client(srv.base_url, [], max_retries=1, max_consecutive_failures=2)
        with pytest.raises(LLMError) as e1:
            c.chat(MSGS)
        assert not isinstance(e1.value, LLMUnavailable) and e1.value.attempts == 2 and "HTTP 500" in str(e1.value)
        with pytest.raises(LLMUnavailable):
            c.chat(MSGS)
    assert len(srv.requests) == 4


def test_bad_request_is_not_retried_and_auth_errors_are_fatal():
    with FakeOpenAI(seq({"status": 400, "message": "context too long"})) as srv:
        with pytest.raises(LLMError) as e:
            client(srv.base_url, []).chat(MSGS)
        assert e.value.attempts == 1 and not isinstance(e.value, LLMUnavailable)
    with FakeOpenAI(seq({"status": 401})) as srv:
        with pytest.raises(LLMUnavailable, match=r"\$PAREVO_TEST_KEY"):
            client(srv.base_url, []).chat(MSGS)
        assert len(srv.requests) == 1


def test_unreachable_endpoint_is_unavailable():
    with pytest.raises(LLMUnavailable, match="cannot reach"):
        client(closed_port_url(), [], max_retries=1).chat(MSGS)


def test_slow_reply_times_out_and_is_retried():
    with FakeOpenAI(seq({"delay": 1.0, "reply": "late"}, {"reply": "fast"})) as srv:
        reply = client(srv.base_url, [], timeout_s=0.3).chat(MSGS)
    assert reply.text == "fast" and reply.attempts == 2


def test_missing_usage_is_estimated():
    with FakeOpenAI(seq({"reply": "x" * 400, "no_usage": True})) as srv:
        reply = client(srv.base_url).chat(MSGS)
    assert reply.estimated_usage and reply.completion_tokens == 100 and reply.prompt_tokens >= 1


def test_cancel_interrupts_a_slow_call():
    cancel = threading.Event()
    with FakeOpenAI(seq({"delay": 3.0, "reply": "late"})) as srv:
        c = LLMClient(LLMSettings(base_url=srv.base_url, model="m"), env={}, cancel=cancel)
        threading.Timer(0.2, cancel.set).start()
        t0 = time.monotonic()
        with pytest.raises(LLMCancelled):
            c.chat(MSGS)
        assert time.monotonic() - t0 < 2.0


def test_settings_from_env_and_options():
    assert LLMSettings.from_env({}) is None
    s = LLMSettings.from_env({"PAREVO_LLM_BASE_URL": "http://127.0.0.1:1/v1", "PAREVO_LLM_MODEL": "qwen",
                              "PAREVO_LLM_KEY_ENV": "MY_KEY"}, model="llama")
    assert (s.base_url, s.model, s.api_key_env) == ("http://127.0.0.1:1/v1", "llama", "MY_KEY")
    assert "MY_KEY" in str(s.public()) and "key" not in s.describe().lower()


def test_api_key_never_reaches_a_candidates_environment(monkeypatch):
    monkeypatch.setenv("PAREVO_TEST_KEY", "sk-never-leak-42")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-leak-43")
    c = LLMClient(LLMSettings(base_url="http://127.0.0.1:9/v1", model="m", api_key_env="PAREVO_TEST_KEY"))
    assert c.key_present
    # candidates run through run_sandboxed (tests, race checks, timing, profiling): the environment is scrubbed
    out = run_sandboxed(["/usr/bin/env"])
    assert out.ok and "sk-never-leak" not in out.stdout and "PAREVO_TEST_KEY" not in out.stdout
    assert "OPENAI_API_KEY" not in out.stdout
