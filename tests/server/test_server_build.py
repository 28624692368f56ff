"""The server is built by a factory from services, and one wrapper turns handler errors into answers."""

from __future__ import annotations

import dataclasses
import logging

import pytest
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from parevo.server import lsp
from parevo.server.errors import InvalidParams, RequestFailed, UserError, guarded
from parevo.server.services.searches import JobContext
from parevo.toolchain.models import NoLoopFound

pytestmark = pytest.mark.fast


def test_no_module_level_server_and_each_factory_call_builds_a_new_one():
    assert not hasattr(lsp, "server")
    a, b = lsp.create_server(), lsp.create_server()
    assert a is not b
    assert a.documents is not b.documents and a.searches.queue is not b.searches.queue
    # services get their dependencies explicitly: the same objects the server holds
    assert a.stores.documents is a.documents and a.stores.config is a.config
    assert a.searches.staleness is a.staleness and a.publisher.stores is a.stores
    fm = a.protocol.fm
    assert {"textDocument/codeAction", "codeAction/resolve", "textDocument/hover"} <= set(fm.features)
    assert {"parevo.parallelize", "parevo.checkRaces", "parevo.cancel", "parevo.status"} <= set(fm.commands)


def test_the_job_context_is_typed():
    fields = {f.name: f.type for f in dataclasses.fields(JobContext)}
    assert {"uri", "path", "prepared", "anchor", "input_spec", "begun", "percentage"} <= set(fields)


class _Ls:
    pass


def test_guarded_passes_protocol_errors_and_turns_user_errors_into_a_sentence():
    @guarded("thing")
    def invalid(ls):
        raise InvalidParams("position.line must be 0 or more")

    with pytest.raises(JsonRpcInvalidParams) as e:
        invalid(_Ls())
    assert e.value.message == "position.line must be 0 or more"

    @guarded("thing")
    def user(ls):
        raise NoLoopFound("no loop at line 3")

    with pytest.raises(RequestFailed) as e:
        user(_Ls())
    assert e.value.message == "no loop at line 3" and e.value.data is None and e.value.code == -32803

    @guarded("thing", fallback=lambda ls, msg: {"reason": msg})
    def with_fallback(ls):
        raise UserError("expected arguments: uri, line")

    assert with_fallback(_Ls()) == {"reason": "expected arguments: uri, line"}


async def test_guarded_logs_a_bug_and_answers_without_the_traceback(caplog):
    @guarded("hover")
    async def buggy(ls):
        return {}["missing"]

    with caplog.at_level(logging.ERROR, logger="parevo.server"):
        with pytest.raises(JsonRpcException) as e:
            await buggy(_Ls())
    err = e.value.to_response_error()
    assert err.data is None and "Traceback" not in err.message and "KeyError" in err.message
    assert "internal error in hover" in err.message
    assert any(r.exc_info for r in caplog.records)  # the traceback goes to the log

    @guarded("hover", fallback=None)
    async def buggy_with_fallback(ls):
        raise RuntimeError("boom")

    assert await buggy_with_fallback(_Ls()) is None
