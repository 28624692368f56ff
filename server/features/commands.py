"""Commands (``workspace/executeCommand``) and the progress UI's cancel button.

``parevo.parallelize(uri, line, endLine?, version?)`` and
``parevo.checkRaces(...)`` start a job and return at once;
``parevo.fixRace(...)`` searches the racy loop's serial meaning;
``parevo.cancel()`` cancels every search, ``parevo.cancel(uri, line[, endLine])``
the one of that loop; ``parevo.loopStatus(uri, line[, endLine])`` says what
parevo has for a loop; ``parevo.status()`` reports settings, toolchain and jobs.
"""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from parevo.toolchain.syntax import parse_count

from .. import actions
from ..errors import UserError, guarded
from ..app import ParevoServer
from ..diagnostics import evolution_line
from ..reading import Selection
from ..store import UNTRUSTED_MESSAGE, record_key


def parse_args(args: tuple) -> tuple[str, Selection]:
    """``(uri, line[, end_line[, version]])``, or one list / ``{"uri", "line", "endLine"}`` object holding them.

    Raises:
        UserError: the arguments are not of that form.
    """
    if len(args) == 1 and isinstance(args[0], (list, dict)):
        args = tuple(args[0]) if isinstance(args[0], list) else (args[0].get("uri"), args[0].get("line"),
                                                                  args[0].get("endLine"))
    if not args or not isinstance(args[0], str):
        raise UserError("expected arguments: uri, line[, end_line]")
    try:
        line = int(args[1]) if len(args) > 1 and args[1] is not None else 0
        end = int(args[2]) if len(args) > 2 and args[2] is not None else None
    except (TypeError, ValueError):
        raise UserError("expected arguments: uri, line[, end_line] (lines are 0-based integers)") from None
    return args[0], Selection(line, end)


def _not_started(ls: ParevoServer, reason: str) -> dict[str, Any]:
    ls.client.message(f"parevo: {reason}", types.MessageType.Warning)
    return {"started": False, "reason": reason}


def _not_cancelled(ls: ParevoServer, reason: str) -> dict[str, Any]:
    ls.client.message(f"parevo: cannot cancel: {reason}", types.MessageType.Warning)
    return {"cancelled": 0}


@guarded(actions.CMD_PARALLELIZE, fallback=_not_started)
async def cmd_parallelize(ls: ParevoServer, *args) -> dict:
    """``parevo.parallelize(uri, line, end_line?, version?)``: start a search of the loop; returns at once."""
    uri, selection = parse_args(args)
    return await ls.searches.start("evolve", uri, selection)


@guarded(actions.CMD_CHECK_RACES, fallback=_not_started)
async def cmd_check_races(ls: ParevoServer, *args) -> dict:
    """``parevo.checkRaces(uri, line, end_line?, version?)``: run the loop's function under ThreadSanitizer."""
    uri, selection = parse_args(args)
    return await ls.searches.start("races", uri, selection)


@guarded(actions.CMD_FIX, fallback=_not_started)
async def cmd_fix_race(ls: ParevoServer, *args) -> dict:
    """``parevo.fixRace(uri, line, end_line?, version?)``: search a verified rewrite of the racy loop's serial
    meaning (the same body run as a serial loop); returns at once."""
    uri, selection = parse_args(args)
    return await ls.searches.start("fix", uri, selection)


@guarded(actions.CMD_CANCEL, fallback=_not_cancelled)
async def cmd_cancel(ls: ParevoServer, *args) -> dict:
    """``parevo.cancel()`` cancels every search; ``parevo.cancel(uri, line[, end_line])`` the one of that loop."""
    if not args:
        return {"cancelled": ls.searches.cancel_all()}
    uri, selection = parse_args(args)
    prepared = await ls.documents.prepare(uri, selection)
    return {"cancelled": int(ls.searches.cancel_key(prepared.anchor.key))}


def _no_loop(ls: ParevoServer, reason: str) -> dict[str, Any]:
    return {"state": "no-loop", "message": reason}


@guarded("parevo.loopStatus", fallback=_no_loop)
async def cmd_loop_status(ls: ParevoServer, *args) -> dict:
    """``parevo.loopStatus(uri, line, end_line?)``: what parevo has for the loop at the selection, so a client
    can say "never run" apart from "nothing verified": ``{"state", "message"}`` with ``state`` one of
    ``no-loop``, ``never-run``, ``queued``, ``running``, ``verified``, ``none-verified``,
    ``not-parallelizable``, ``races``, ``race-free``, ``stale``, ``error``, ``untrusted`` (a stored
    result this user's parevo did not sign: nothing of it is shown)."""
    uri, selection = parse_args(args)
    prepared = await ls.documents.prepare(uri, selection)
    anchor = prepared.anchor
    job = ls.searches.find(anchor.key)
    if job is not None:
        return {"state": job.state, "message": f"a parevo search of this loop is {job.state}"}
    path = ls.documents.path_of(uri) or ""
    store = ls.stores.store_for(path) if path else None
    rec = ls.stores.errors.get(anchor.key) or (store.get(anchor.key) if store else None)
    races = store.get(record_key(anchor.key, "races")) if store else None
    shown = rec if rec is not None else races
    if shown is not None and shown.untrusted is not None:
        return {"state": "untrusted", "message": UNTRUSTED_MESSAGE}
    for r in (rec, races):
        if r is not None and r.stale:
            return {"state": "stale", "message": f"the result of this loop is stale ({r.stale})"}
    if races is not None and races.race_check is not None and races.race_check.status == "races" and (
            rec is None or not rec.applicable):
        return {"state": "races", "message": races.race_check.message}
    if rec is None:
        if races is not None and races.race_check is not None:
            return {"state": "race-free" if races.race_check.status == "clean" else "error",
                    "message": races.race_check.message}
        return {"state": "never-run", "message": "parevo has not searched this loop yet"}
    if rec.kind == "error":
        return {"state": "error", "message": rec.error or "parevo could not run"}
    res = rec.evolution
    status = res.status if res is not None else "error"
    return {"state": {"verified": "verified", "none-verified": "none-verified",
                      "not-parallelizable": "not-parallelizable"}.get(status, "error"),
            "message": evolution_line(res, rec.race_fix) if res is not None else ""}


@guarded("parevo.status")
def cmd_status(ls: ParevoServer, *args) -> dict:
    """``parevo.status()``: settings, toolchain and searches (for clients and tests); ``documentParses``
    counts the document texts parsed in the server's process (:func:`parevo.toolchain.syntax.parse_count`)."""
    tc = ls.toolchain
    return {
        "settings": ls.config.settings.model_dump(mode="json"),
        "toolchain": tc.current.model_dump(mode="json") if tc.current else None,
        "toolchainProblem": tc.problem,
        "toolchainReady": tc.ready,
        "jobs": [{"key": j.key, "kind": j.kind, "state": j.state, "token": j.token} for j in ls.searches.queue.jobs()],
        "documentParses": parse_count(),  # tree-sitter parses of document texts in this process (tests)
    }


@guarded("cancelling from the progress UI", fallback=None)
def progress_cancel(ls: ParevoServer, params: types.WorkDoneProgressCancelParams) -> None:
    """The user pressed cancel on a progress notification."""
    ls.searches.cancel_token(params.token)


def register(server: ParevoServer) -> None:
    """Attach the commands and the progress cancel handler."""
    server.command(actions.CMD_PARALLELIZE)(cmd_parallelize)
    server.command(actions.CMD_CHECK_RACES)(cmd_check_races)
    server.command(actions.CMD_FIX)(cmd_fix_race)
    server.command(actions.CMD_CANCEL)(cmd_cancel)
    server.command("parevo.loopStatus")(cmd_loop_status)
    server.command("parevo.status")(cmd_status)
    server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)(progress_cancel)
