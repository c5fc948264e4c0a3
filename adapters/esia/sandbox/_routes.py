"""The sandbox ЕСИА's HTTP face for OAuth in one router: the authorization endpoints and the login
page (``_oauth_ac``), the token endpoint (``_oauth_te``) and the person API (``_person_api``), each
over the one ``SandboxOAuth`` (``_oauth``) they share."""

from __future__ import annotations

from fastapi import APIRouter

from adapters.esia.sandbox._oauth import SandboxOAuth
from adapters.esia.sandbox._oauth_ac import ac_routes
from adapters.esia.sandbox._oauth_te import te_routes
from adapters.esia.sandbox._person_api import person_routes


def oauth_routes(oauth: SandboxOAuth) -> APIRouter:
    """All the HTTP routes: /aas/oauth2/*, /idp/ext/Logout, /rs/prns/*, /_sandbox/esia/*."""
    router = APIRouter()
    router.include_router(ac_routes(oauth))
    router.include_router(te_routes(oauth))
    router.include_router(person_routes(oauth))
    return router
