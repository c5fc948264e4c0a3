"""HTTP routes for operating the outbox: look at messages, replay or drop dead letters.

    GET    /admin/outbox                  ?state=&kind=&limit=   messages, oldest first (no payloads)
    GET    /admin/outbox/stats                                   counts per state, leased, oldest pending age
    GET    /admin/outbox/{id}                                    one message with its payload
    POST   /admin/outbox/{id}/replay                             dead or rejected → pending, attempts reset
    POST   /admin/outbox/replay           ?state=dead&kind=      replay them all → {"replayed": n}
    DELETE /admin/outbox/{id}                                    drop a dead or rejected message

Unknown ids answer 404 and messages in a state that does not allow the action 409, both with a
JSON body ``{"error": ..., "message": ...}``.

NOT AUTHENTICATED YET: authentication of the admin routes comes with a later issue. A payload
may hold personal data, so until then mount these routes only where the network is trusted.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from bridge.outbox._outbox import Outbox
from bridge.outbox._types import REPLAYABLE

State = Literal["pending", "delivered", "rejected", "dead"]
ReplayableState = Literal["dead", "rejected"]


def _not_found(message_id: str) -> JSONResponse:
    return JSONResponse({"error": "not_found", "message": f"no outbox message {message_id}"}, status_code=404)


def _wrong_state(state: str, action: str) -> JSONResponse:
    return JSONResponse(
        {"error": "wrong_state", "state": state,
         "message": f"only {' or '.join(REPLAYABLE)} messages can be {action}; this one is {state}"},
        status_code=409,
    )


def admin_routes(outbox: Outbox) -> APIRouter:
    """The routes above, for ``app.include_router`` (not authenticated yet: see the module's docstring)."""
    router = APIRouter(prefix="/admin/outbox")

    @router.get("")
    def list_messages(
        state: State | None = None, kind: str | None = None, limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        messages = outbox.list(state=state, kind=kind, limit=limit)
        return {"messages": [message.to_dict(payload=False) for message in messages]}

    @router.get("/stats")
    def stats() -> dict[str, Any]:
        return outbox.stats().to_dict()

    @router.post("/replay")
    def replay_all(state: ReplayableState = "dead", kind: str | None = None) -> dict[str, int]:
        return {"replayed": outbox.replay_many(state=state, kind=kind)}

    @router.get("/{message_id}", response_model=None)
    def show(message_id: str) -> dict[str, Any] | JSONResponse:
        message = outbox.get(message_id)
        if message is None:
            return _not_found(message_id)
        return message.to_dict()

    @router.post("/{message_id}/replay", response_model=None)
    def replay(message_id: str) -> dict[str, Any] | JSONResponse:
        if outbox.replay(message_id):
            message = outbox.get(message_id)
            return {"replayed": message_id, "state": message.state if message else None}
        message = outbox.get(message_id)
        return _not_found(message_id) if message is None else _wrong_state(message.state, "replayed")

    @router.delete("/{message_id}", response_model=None)
    def drop(message_id: str) -> Response:
        if outbox.drop(message_id):
            return Response(status_code=204)
        message = outbox.get(message_id)
        return _not_found(message_id) if message is None else _wrong_state(message.state, "dropped")

    return router
