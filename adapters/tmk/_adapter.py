"""The ТМК adapter as the core sees it: the ТМК booking bot (webhook, dialog, reminders, chats) and
the SOAP face the МИС calls for it. Talks to MAX, to the МИС schedule (HubService) and, when the
consultation chat lives there, to Sferum; the bot's users log in through the ЕСИА adapter."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from adapters.esia import LOGIN_CONSUMERS, LOGIN_COOKIE
from adapters.esia import adapter as esia
from adapters.hubservice import ScheduleClient, hubservice_upstream
from adapters.max import MAX_BODY_BYTES, MaxBot, StoreRateLimiter
from adapters.max import MIGRATIONS as MAX_MIGRATIONS
from adapters.sferum import SferumClient
from adapters.tmk._bot import TmkBot
from adapters.tmk._identity import page, token_problem
from adapters.tmk._service import build_service
from adapters.tmk._settings import TmkSettings
from bridge.adapters import AdapterContext, SandboxPeers, SharedKey
from bridge.soap import SoapService
from bridge.store import TokenRejected

MAX_UPSTREAM, SCHEDULE_UPSTREAM, SFERUM_UPSTREAM = "max", "hubservice", "sferum"
_BOT: SharedKey[TmkBot] = SharedKey("tmk.bot")


class TmkAdapter:
    name = "tmk"
    upstreams = (MAX_UPSTREAM, SCHEDULE_UPSTREAM, SFERUM_UPSTREAM)
    # The bot's tables (m002) follow the MAX client's rate-limit slot (m001) on the "max" branch.
    migrations = (MAX_MIGRATIONS, Path(__file__).with_name("migrations"))

    def required_upstreams(self, settings: dict[str, Any]) -> tuple[str, ...]:
        return self.upstreams

    def check_settings(self, settings: dict[str, Any]) -> list[str]:
        try:
            TmkSettings(**settings)
        except ValidationError as exc:
            return [f"{'.'.join(str(p) for p in e['loc']) or '(section)'}: {e['msg']}" for e in exc.errors()]
        return []

    def bot(self, context: AdapterContext) -> TmkBot:
        def build() -> TmkBot:
            settings = TmkSettings(**context.adapter_settings(self.name))
            limiter = StoreRateLimiter(context.store, rate=settings.rate_per_second)
            bot = MaxBot(context.upstream(MAX_UPSTREAM), settings.token_value(), limiter)
            schedule = ScheduleClient(hubservice_upstream(context.settings.upstream(SCHEDULE_UPSTREAM)),
                                      settings.schedule.guid_value(), settings.schedule.endpoint)
            sferum = None
            if settings.sferum is not None:
                sferum = SferumClient(context.upstream(SFERUM_UPSTREAM), settings.sferum.token_value(),
                                      api_version=settings.sferum.api_version)
            tmk = TmkBot(settings, store=context.store, secret=context.settings.pseudonym_secret(),
                         pseudonym=context.pseudonym, tokens=context.tokens, outbox=context.outbox, bot=bot,
                         schedule=schedule, sferum=sferum, clock=context.clock)
            context.on_start.append(tmk.start)
            return tmk

        return context.shared(_BOT, build)

    def soap_services(self, context: AdapterContext) -> list[SoapService]:
        return [build_service(self.bot(context).notices, context.settings.wsdl_dir)]

    def soap_contracts(self, wsdl_dir: Path) -> list[SoapService]:
        return [build_service(None, wsdl_dir)]

    def http_routes(self, context: AdapterContext) -> list[APIRouter]:
        tmk = self.bot(context)
        router = APIRouter()

        def finish_login(purpose: str, login: dict[str, Any] | None, refusal: Any) -> Response:
            outcome = tmk.identity.complete(purpose, login, refusal)
            tmk.conversation.linked(outcome)
            if outcome.account is None:
                return HTMLResponse(page("Вход не выполнен", outcome.problem or ""), status_code=200)
            return HTMLResponse(page("Готово", "Вход через Госуслуги выполнен. Вернитесь в MAX: бот уже прислал меню."))

        context.shared(LOGIN_CONSUMERS, dict)["max-link"] = finish_login

        @router.post("/max/webhook", include_in_schema=False)
        async def webhook(request: Request) -> Response:
            body = bytearray()
            async for chunk in request.stream():     # read at most the limit: a huge body is never held
                body += chunk
                if len(body) > MAX_BODY_BYTES:
                    return JSONResponse({"error": "too_large", "message": f"тело больше {MAX_BODY_BYTES} байт"},
                                        status_code=413)
            status = await _in_thread(lambda: tmk.receive(dict(request.headers), bytes(body)))
            if status == 200:
                return JSONResponse({"ok": True})
            return JSONResponse({"error": "rejected" if status < 500 else "failed"}, status_code=status)

        @router.get("/max/link", include_in_schema=False)
        def link(t: str = "") -> Response:
            """The login link the bot sent: starts an ЕСИА login for this MAX user, bound to this browser."""
            login = esia.login(context)
            callback = esia.login_callback_url(context)
            if login is None or not callback:
                return HTMLResponse(page("Вход недоступен", "Вход через Госуслуги не настроен."), status_code=503)
            try:
                user_id = tmk.identity.redeem(t)
            except TokenRejected as exc:
                return HTMLResponse(page("Ссылка недействительна", token_problem(exc)), status_code=400)
            nonce = secrets.token_urlsafe(24)
            begun = login.start(callback, tmk.identity.purpose(user_id), binding=nonce, field="t")
            response = RedirectResponse(begun.url, status_code=302)
            response.set_cookie(LOGIN_COOKIE, nonce, max_age=600, httponly=True,
                                secure=callback.startswith("https://"), samesite="lax", path="/esia")
            return response

        @router.get("/admin/tmk/bookings", include_in_schema=False)
        def bookings(limit: int = 100) -> JSONResponse:
            """Bookings made through the bot (no personal data): number, MO, visit, start, state, chat."""
            return JSONResponse(tmk.bookings.listing(max(1, min(limit, 1000))))

        return [router]

    def sandbox_peers(self, workdir: Path, bridge_url: str) -> SandboxPeers:
        from adapters.tmk.sandbox import sandbox_peers  # sandbox code loads only with --sandbox

        return sandbox_peers(workdir, bridge_url)

    def demo(self, bridge_url: str, sandbox_urls: dict[str, str], say: Callable[[str], None]) -> None:
        from adapters.tmk._demo import run_demo  # demo code loads only for `bridge demo`

        run_demo(bridge_url, sandbox_urls, say)


async def _in_thread(work: Callable[[], int]) -> int:
    return await anyio.to_thread.run_sync(work)


adapter = TmkAdapter()
