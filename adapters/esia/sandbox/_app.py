"""HTTP face of the sandbox ЕСИА: OAuth and the person API (``_routes``), and the control API of its
people store. The account operations are not here: they are ЕСИА's reg_service kinds of information,
answered behind the sandbox СМЭВ (``_reg_service``, ``_peers``) over the same people store.

Control API (never faulted): PUT/GET /_sandbox/faults, GET /_sandbox/accounts/count?snils=,
POST /_sandbox/accounts (an account as JSON: snils, lastName, firstName, middleName, birthDate ISO,
gender, mobile, email, docSeries, docNumber, trusted), POST /_sandbox/reset, and with a reg_service the
routes of ``_reg_service_http``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, HTTPException

from adapters.esia.sandbox._accounts import AccountStore, DuplicateSnils
from adapters.esia.sandbox._oauth import SandboxOAuth
from adapters.esia.sandbox._reg_service import RegService
from adapters.esia.sandbox._reg_service_http import reg_service_routes
from adapters.esia.sandbox._routes import oauth_routes
from bridge.sandbox import FaultInjector, FaultPlan, fault_admin_routes


def create_sandbox_app(
    accounts: AccountStore | None = None, faults: FaultPlan | None = None, oauth: SandboxOAuth | None = None,
    reg_service: RegService | None = None,
) -> FaultInjector:
    accounts = accounts or (reg_service.accounts if reg_service is not None else AccountStore())
    oauth = oauth or SandboxOAuth()
    plan = faults or FaultPlan()
    app = FastAPI(title="Sandbox ЕСИА", docs_url=None, redoc_url=None)
    app.state.accounts = accounts
    app.state.faults = plan
    app.include_router(fault_admin_routes(plan))
    app.state.oauth = oauth
    app.include_router(oauth_routes(oauth))
    if reg_service is not None:
        app.include_router(reg_service_routes(reg_service))

    @app.get("/_sandbox/accounts/count")
    def count(snils: str | None = None) -> dict[str, int]:
        return {"count": accounts.count(snils)}

    @app.post("/_sandbox/accounts")
    def put_account(account: dict[str, Any]) -> dict[str, int]:
        if not account.get("snils") or not account.get("lastName") or not account.get("firstName"):
            raise HTTPException(status_code=422, detail="snils, lastName and firstName are required")
        try:
            return {"oid": accounts.create(account, "00000000", trusted=bool(account.get("trusted", True)))}
        except DuplicateSnils:
            raise HTTPException(status_code=409, detail="an account with this SNILS exists") from None

    @app.post("/_sandbox/reset")
    def reset() -> dict[str, bool]:
        accounts.reset()
        if reg_service is not None:
            reg_service.outbox.clear()
        plan.configure(0.0, plan.kinds, plan.stall_seconds, None)
        return {"reset": True}

    return FaultInjector(app, plan)
