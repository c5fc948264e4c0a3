"""Building an adapter's СМЭВ exchange from its settings, in the instance the core starts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bridge.scheduling import JobRuns
from bridge.signing import load_signer
from bridge.smev._client import SmevClient
from bridge.smev._exchange import SmevExchange
from bridge.smev._metrics import bind_journal
from bridge.smev._runner import ResponseRunner
from bridge.smev._settings import SmevNodeSettings
from bridge.store import Sealer

if TYPE_CHECKING:
    from bridge.adapters import AdapterContext

__all__ = ["open_exchange"]


def open_exchange(context: AdapterContext, node: SmevNodeSettings, *, answerer: str, purpose: str) -> SmevExchange:
    """The adapter's :class:`SmevExchange` over ``upstreams.<node.upstream>``; its GetResponse runner starts
    when the instance serves (``context.on_start``)
    and stops before the upstreams close (``context.on_stop``). ``purpose`` names the sealing key's use (the adapter's
    name); ``answerer`` is the peer's name as the МИС reads it in «Ответ … ещё не пришёл»."""
    client = SmevClient(context.upstream(node.upstream), load_signer(node.signer.to_config()),
                        node.client_settings(), clock=context.clock)
    sealer = Sealer(context.settings.pseudonym_secret(), f"smev:{purpose}")
    exchange = SmevExchange(client, context.store, sealer, answerer=answerer,
                            settings=node.exchange_settings(), clock=context.clock)
    runs = JobRuns(context.store, context.scheduler.runs.holder, lease_seconds=node.lease_seconds)
    exchange.runner = ResponseRunner(exchange, runs)
    context.on_start.append(exchange.runner.start)
    context.on_stop.append(exchange.runner.stop)   # before the upstream closes: no GetResponse on a closed client
    bind_journal(lambda: exchange.journal.stats(context.clock(), acknowledged=False))
    return exchange
