"""HTTP face of the sandbox ЕГИСЗ «Прикрепление онлайн» (docs/egisz-upstream.md, «The sandbox»).

    GET  /api/AttachMO/v1/tasks?mo&from&to&limit&cursor      200 {"items", "next_cursor"}
         400 {"detail", "field"} for a bad parameter, 403 {"detail"} for an MO not served
    GET  /api/AttachMO/v1/tasks/{id}                          200 Task, 404 {"detail"}
    POST /api/AttachMO/fhir/$UpdateTaskStatus                 {"attach_id": id, …reply} (SAMSON's path and key)
         200 {"result": "success", "task"}, 409 {"detail", "code"[, "field"]}, 422 {"detail", "field"|"code"}, 404;
         {"attach_id": id} alone uploads the reply written before, {"attach_id": 0} every one waiting:
         200 {"result": "success", "uploaded", "failed"}

Control API (never faulted): PUT/GET /_sandbox/faults (fail, stall, drop: bridge.sandbox.FaultPlan) and,
under /_sandbox/egisz/: POST generate, POST tasks, GET tasks/count, GET/POST mos, POST reject-next,
GET replies, GET replies/count, GET uploads, POST reset.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from adapters.egisz.sandbox._generator import BatchSpec
from adapters.egisz.sandbox._paging import BadParameter, parse_query
from adapters.egisz.sandbox._registry import EgiszRegistry, IdempotencyConflict, TaskNotFound
from adapters.egisz.sandbox._rules import ReplyMalformed, ReplyRefused, attach_id, validate_reply
from bridge.sandbox import FaultInjector, FaultPlan, fault_admin_routes

__all__ = ["create_egisz_sandbox"]

_NOT_FOUND = {"detail": "Task not found"}


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    mo: list[str] = Field(min_length=1, max_length=100)
    start: datetime = Field(alias="from")
    end: datetime = Field(alias="to")
    count: int = Field(ge=1, le=10_000_000)
    seed: int = 0
    children_share: float = Field(0.3, ge=0.0, le=1.0)
    cancellation_share: float = Field(0.1, ge=0.0, le=1.0)
    detachment_share: float = Field(0.1, ge=0.0, le=1.0)


class RejectNextRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(1, ge=0, le=1_000_000)
    code: str | None = Field(None, min_length=1, max_length=100)
    detail: str | None = Field(None, min_length=1, max_length=1000)


class MosRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mo: list[str] = Field(min_length=1)


def create_egisz_sandbox(registry: EgiszRegistry | None = None, faults: FaultPlan | None = None) -> FaultInjector:
    """The sandbox as an ASGI app: FastAPI inside ``FaultInjector`` (faults never touch ``/_sandbox/``)."""
    registry = registry or EgiszRegistry()
    plan = faults or FaultPlan()
    app = FastAPI(title="Sandbox ЕГИСЗ «Прикрепление онлайн»", docs_url=None, redoc_url=None)
    app.state.registry = registry
    app.state.faults = plan
    app.include_router(fault_admin_routes(plan))

    @app.get("/api/AttachMO/v1/tasks")
    def tasks(request: Request) -> JSONResponse:
        try:
            query = parse_query(request.query_params)
        except BadParameter as exc:
            return JSONResponse(exc.body(), status_code=400)
        if not registry.serves(query.mo):
            return JSONResponse({"detail": "MO is not served by this client"}, status_code=403)
        items, next_cursor = registry.page(query)
        return JSONResponse({"items": items, "next_cursor": next_cursor})

    @app.get("/api/AttachMO/v1/tasks/{task_id}")
    def task(task_id: str) -> JSONResponse:
        found = registry.task(task_id)
        return JSONResponse(_NOT_FOUND, status_code=404) if found is None else JSONResponse(found)

    @app.post("/api/AttachMO/fhir/$UpdateTaskStatus")
    async def update_task_status(request: Request) -> JSONResponse:
        # The body is read whatever its Content-Type: SAMSON posts json.dumps(...) as `data`, with none.
        try:
            body = json.loads(await request.body())
            task_id = attach_id(body)
        except ValueError:
            return JSONResponse({"detail": "the body is not JSON", "field": "body"}, status_code=422)
        except ReplyMalformed as exc:
            return JSONResponse(exc.body(), status_code=422)
        try:
            if set(body) == {"attach_id"}:
                answer = registry.upload_pending() if task_id == "0" else registry.upload(task_id)
            elif registry.task(task_id) is None:
                raise TaskNotFound(task_id)
            else:
                answer = registry.reply(task_id, validate_reply(body), request.headers.get("Idempotency-Key"))
        except TaskNotFound:
            return JSONResponse(_NOT_FOUND, status_code=404)
        except (ReplyMalformed, IdempotencyConflict) as exc:
            return JSONResponse(exc.body(), status_code=422)
        except ReplyRefused as exc:
            return JSONResponse(exc.body(), status_code=409)
        return JSONResponse(answer)

    # --- control API ------------------------------------------------------------------------

    @app.post("/_sandbox/egisz/generate")
    def generate(request: GenerateRequest) -> dict[str, Any]:
        try:
            spec = BatchSpec(
                mos=tuple(request.mo), start=request.start, end=request.end, count=request.count, seed=request.seed,
                children_share=request.children_share, cancellation_share=request.cancellation_share,
                detachment_share=request.detachment_share)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return registry.generate(spec)

    @app.post("/_sandbox/egisz/tasks")
    def put_task(body: dict[str, Any]) -> dict[str, str]:
        try:
            registry.put_task(body)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return {"id": str(body["id"])}

    @app.get("/_sandbox/egisz/tasks/count")
    def count_tasks(mo: str | None = None) -> dict[str, int]:
        return {"count": registry.count_tasks(mo)}

    @app.get("/_sandbox/egisz/mos")
    def mos() -> dict[str, list[str]]:
        return {"mo": registry.served_mos()}

    @app.post("/_sandbox/egisz/mos")
    def serve(request: MosRequest) -> dict[str, list[str]]:
        try:
            registry.serve(request.mo)
        except ValueError as exc:
            raise HTTPException(status_code=422, detail=str(exc)) from None
        return mos()

    @app.post("/_sandbox/egisz/reject-next")
    def reject_next(request: RejectNextRequest) -> dict[str, int]:
        return {"pending": registry.reject_next(request.count, request.code, request.detail)}

    @app.get("/_sandbox/egisz/replies")
    def replies(task_id: str | None = None) -> list[dict[str, Any]]:
        return registry.replies(task_id)

    @app.get("/_sandbox/egisz/replies/count")
    def reply_count(task_id: str | None = None) -> dict[str, int]:
        return {"count": registry.reply_count(task_id)}

    @app.get("/_sandbox/egisz/uploads")
    def uploads(need_upload: bool | None = None) -> list[dict[str, Any]]:
        return registry.uploads(need_upload)

    @app.post("/_sandbox/egisz/reset")
    def reset() -> dict[str, bool]:
        registry.reset()
        plan.configure(0.0, plan.kinds, plan.stall_seconds, None)
        return {"reset": True}

    return FaultInjector(app, plan)
