"""MaxBot's POSTs: no Idempotency-Key (MAX defines none), retries decided per endpoint (docs/max.md, "Retries").

Each call meets an ambiguous failure first (the request was sent, no answer came): only the calls whose
repeat MAX's contract makes harmless are sent again. Failures where MAX did not process the request
(429, 503, connection refused) are retried for every call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from adapters.max import MaxBot
from bridge.delivery import RetryPolicy, Upstream, UpstreamConfig, UpstreamServerError, UpstreamTimeout

TOKEN = "sandbox-max-token"
SENT = {"message": {"recipient": {"chat_id": 1, "chat_type": "dialog", "user_id": 5}, "timestamp": 1,
                    "body": {"mid": "mid.1", "seq": 1, "text": "x"},
                    "sender": {"user_id": 2, "first_name": "bot", "is_bot": True, "last_activity_time": 1}}}


def _bot(first: Callable[[], httpx.Response], answer: dict[str, Any]) -> tuple[MaxBot, list[httpx.Request]]:
    """A bot whose MAX fails the first attempt of every call with ``first`` and then answers ``answer``."""
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return first()
        return httpx.Response(200, json=answer)

    upstream = Upstream(UpstreamConfig(name="max", base_url="http://max.test",
                                       retry=RetryPolicy(max_attempts=3, backoff_initial=0.001, jitter=0.0)),
                        transport=httpx.MockTransport(handler))
    return MaxBot(upstream, TOKEN), seen


def _timeout() -> httpx.Response:
    raise httpx.ReadTimeout("sent, no answer")


CALLS: dict[str, tuple[Callable[[MaxBot], Any], dict[str, Any], bool]] = {
    # name: (call, MAX's answer, repeated after an ambiguous failure?)
    "POST /messages": (lambda b: b.send_message("x", user_id=5), SENT, False),
    "POST /answers notification": (lambda b: b.answer_callback("cb", notification="ok"), {"success": True}, False),
    "POST /answers message only": (lambda b: b.answer_callback("cb", message="new"), {"success": True}, True),
    "POST /chats/{chatId}/members": (lambda b: b.add_chat_members(-70, [5]), {"success": True}, True),
    "POST /subscriptions": (lambda b: b.subscribe("https://bridge.example/max/webhook"), {"success": True}, True),
    "PUT /messages": (lambda b: b.edit_message("mid.1", "x"), {"success": True}, True),
}


@pytest.mark.parametrize("name", sorted(CALLS))
def test_ambiguous_failure_repeats_only_what_max_makes_harmless(name: str) -> None:
    call, answer, repeated = CALLS[name]
    for first in (_timeout, lambda: httpx.Response(502, json={"code": "internal.error", "message": "x"})):
        bot, seen = _bot(first, answer)
        if repeated:
            call(bot)
            assert len(seen) == 2, name
        else:
            with pytest.raises((UpstreamTimeout, UpstreamServerError)):
                call(bot)
            assert len(seen) == 1, name
        assert all("idempotency-key" not in r.headers for r in seen), name


@pytest.mark.parametrize("name", sorted(CALLS))
def test_unprocessed_refusals_are_repeated_for_every_call(name: str) -> None:
    call, answer, _ = CALLS[name]
    for first in (lambda: httpx.Response(429, json={"code": "too.many.requests", "message": "x"}),
                  lambda: httpx.Response(503, json={"code": "service.unavailable", "message": "x"})):
        bot, seen = _bot(first, answer)
        call(bot)
        assert len(seen) == 2, name
        assert all("idempotency-key" not in r.headers for r in seen), name
