"""Admin HTTP API of scheduled jobs: what is scheduled, what ran. (Credentials: see the security issue.)"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from bridge.scheduling._scheduler import Scheduler


def _jsonable(record: dict[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in record.items()}


def admin_routes(scheduler: Scheduler) -> APIRouter:
    router = APIRouter(prefix="/admin/jobs")

    @router.get("", include_in_schema=False)
    def jobs() -> list[dict[str, Any]]:
        answer = []
        for name in scheduler.names():
            last = scheduler.runs.last_success(name)
            answer.append({"name": name, "cron": scheduler.job(name).cron,
                           "next_fire": scheduler.next_fire(name).isoformat(),
                           "last_success": _jsonable(asdict(last)) if last else None})
        return answer

    @router.get("/{name}/runs", include_in_schema=False)
    def runs(name: str, limit: int = 50) -> JSONResponse:
        if name not in scheduler.names():
            return JSONResponse({"error": "unknown_job", "message": f"no job named {name[:64]}"}, status_code=404)
        return JSONResponse([_jsonable(asdict(run)) for run in scheduler.runs.recent(name, min(limit, 500))])

    return router
