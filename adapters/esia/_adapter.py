"""The ЕСИА adapter as the core sees it: patient accounts (seed 000) and login (seed 001)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError

from adapters.esia._client import SmevAccountOperations
from adapters.esia._login import EsiaLogin
from adapters.esia._login_http import LoginConsumer, login_routes
from adapters.esia._login_service import build_login_service
from adapters.esia._patients import PatientAccounts
from adapters.esia._service import build_service
from adapters.esia._settings import EsiaSettings, LoginSettings
from adapters.esia.oauth._client import EsiaOAuthClient, OAuthConfig
from adapters.esia.oauth._person import PersonApi
from bridge.adapters import AdapterContext, SandboxPeers, SharedKey
from bridge.signing import load_certificate, load_signer, observe_certificate
from bridge.smev import open_exchange
from bridge.soap import SoapService

OAUTH_UPSTREAM = "esia-oauth"       # /aas/oauth2, /rs/prns
# The account operations go through СМЭВ 3: upstreams.<adapter_settings.esia.smev.upstream> ("smev").
# The login's consumers by purpose prefix: other adapters add theirs (the ТМК bot's "max-link").
LOGIN_CONSUMERS: SharedKey[dict[str, LoginConsumer]] = SharedKey("esia.login.consumers")
_LOGIN: SharedKey[EsiaLogin | None] = SharedKey("esia.login")
_ACCOUNTS: SharedKey[PatientAccounts | None] = SharedKey("esia.accounts")


class EsiaAdapter:
    name = "esia"
    upstreams = (OAUTH_UPSTREAM,)
    migrations = ()

    def check_settings(self, settings: dict[str, Any]) -> list[str]:
        try:
            parsed = EsiaSettings(**settings)
        except ValidationError as exc:
            return [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        problems = []
        if parsed.smev is not None:
            for i, path in enumerate(parsed.smev.smev_certificates):
                if not path.exists():
                    problems.append(f"smev.smev_certificates.{i}: file not found")
            for name in ("key_file", "key_password_file", "certificate_file"):
                path = getattr(parsed.smev.signer, name)
                if path is not None and not path.exists():
                    problems.append(f"smev.signer.{name}: file not found")
        if parsed.login is not None:
            for i, path in enumerate(parsed.login.esia_certificates):
                if not path.exists():
                    problems.append(f"login.esia_certificates.{i}: file not found")
            for name in ("key_file", "certificate_file"):
                path = getattr(parsed.login.signer, name)
                if path is not None and not path.exists():
                    problems.append(f"login.signer.{name}: file not found")
        return problems

    def required_upstreams(self, settings: dict[str, Any]) -> tuple[str, ...]:
        """The login's upstream, and the СМЭВ node's when the account operations are configured."""
        try:
            node = EsiaSettings(**settings).smev
        except ValidationError:   # check_settings says what is wrong
            return self.upstreams
        return self.upstreams if node is None else (*self.upstreams, node.upstream)

    def _settings(self, context: AdapterContext) -> EsiaSettings:
        return EsiaSettings(**context.adapter_settings(self.name))

    def _login(self, context: AdapterContext) -> EsiaLogin | None:
        def build() -> EsiaLogin | None:
            login_settings = self._settings(context).login
            return None if login_settings is None else _build_login(context, login_settings)

        return context.shared(_LOGIN, build)

    def soap_services(self, context: AdapterContext) -> list[SoapService]:
        accounts = context.shared(_ACCOUNTS, lambda: self._accounts(context))
        wsdl_dir = context.settings.wsdl_dir
        return [build_service(accounts, wsdl_dir), build_login_service(self._login(context), wsdl_dir)]

    def _accounts(self, context: AdapterContext) -> PatientAccounts | None:
        """Seed 000's operations over the СМЭВ exchange (one per instance: its runner and metrics)."""
        settings = self._settings(context)
        if settings.smev is None:
            return None
        exchange = open_exchange(context, settings.smev, answerer="ЕСИА", purpose=self.name)
        operations = SmevAccountOperations(exchange, settings.routing(), settings.answer_wait_seconds)
        return PatientAccounts(operations, context.mappings["esia.account"], context.journal, context.pseudonym)

    def soap_contracts(self, wsdl_dir: Path) -> list[SoapService]:
        return [build_service(None, wsdl_dir), build_login_service(None, wsdl_dir)]

    def http_routes(self, context: AdapterContext) -> list[APIRouter]:
        login_settings = self._settings(context).login
        callback = (login_settings.callback_url if login_settings else None) or ""
        portal = (login_settings.portal_url if login_settings else None) or "/"
        consumers = context.shared(LOGIN_CONSUMERS, dict)
        return [login_routes(lambda: self._login(context), callback, portal,
                             secure_cookie=callback.startswith("https://"),
                             demo_portal=bool(login_settings and login_settings.demo_portal
                                              and context.settings.sandbox),   # a sandbox page only
                             consumers=consumers)]

    def login(self, context: AdapterContext) -> EsiaLogin | None:
        """The ЕСИА login other adapters start for their own purposes (see LOGIN_CONSUMERS)."""
        return self._login(context)

    def login_callback_url(self, context: AdapterContext) -> str | None:
        login_settings = self._settings(context).login
        return login_settings.callback_url if login_settings else None

    def sandbox_peers(self, workdir: Path, bridge_url: str) -> SandboxPeers:
        from adapters.esia.sandbox import sandbox_peers  # sandbox code loads only with --sandbox

        return sandbox_peers(workdir, bridge_url)

    def demo(self, bridge_url: str, sandbox_urls: dict[str, str], say: Callable[[str], None]) -> None:
        from adapters.esia._demo import run_demo  # demo code loads only for `bridge demo`
        from adapters.esia._demo_login import run_login_demo  # likewise

        run_demo(bridge_url, say, sandbox_urls)
        run_login_demo(bridge_url, say)


def _build_login(context: AdapterContext, settings: LoginSettings) -> EsiaLogin:
    upstream = context.upstream(OAUTH_UPSTREAM)
    signer = load_signer(settings.signer.to_config())
    observe_certificate("esia-client", signer.certificate_der)
    certificates = tuple(load_certificate(path) for path in settings.esia_certificates)
    for i, certificate in enumerate(certificates):
        observe_certificate(f"esia-{i}", certificate)
    config = OAuthConfig(
        client_id=settings.client_id,
        base_url=(settings.esia_url or upstream.config.base_url).rstrip("/"),
        issuer=settings.issuer,
        certificates=certificates,
        scopes=tuple(settings.scopes),
        scope_org=settings.scope_org,
        access_type=settings.access_type,
        person_filter=settings.person_filter,
        permissions=tuple(settings.permissions) if settings.permissions else None,
        legacy_v1=settings.legacy_v1,
    )
    return EsiaLogin(
        EsiaOAuthClient(upstream, signer, config),
        PersonApi(upstream),
        context.mappings["esia.person"],
        context.mappings["esia.child"],
        context.tokens,
        settings.allowed_return_urls(),
        state_ttl=timedelta(seconds=settings.state_ttl_seconds),
        ticket_ttl=timedelta(seconds=settings.ticket_ttl_seconds),
    )


adapter = EsiaAdapter()
