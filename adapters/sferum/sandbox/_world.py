"""The sandbox Sferum's state: consultation chats, their members and calls, phones without an account."""

from __future__ import annotations

import itertools
import secrets
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

SANDBOX_TOKEN = "sandbox-sferum-token"
# Links are the sandbox's own invention: no public sample of Sferum's shows their shape.
INVITE_LINK = "https://sferum.sandbox/join/{}"
JOIN_LINK = "https://sferum.sandbox/call/{}"


@dataclass
class SandboxMember:
    phone: str
    chat_role: str
    member_role: str

    def to_json(self) -> dict[str, str]:
        return {"phone": self.phone, "chat_role": self.chat_role, "member_role": self.member_role}


@dataclass
class SandboxChat:
    chat_id: int
    title: str
    chat_type: str
    invite_link: str
    all_can_post: bool = True
    members: dict[str, SandboxMember] = field(default_factory=dict)  # by phone
    calls: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "title": self.title, "type": self.chat_type,
                "invite_link": self.invite_link, "all_can_post": self.all_can_post,
                "members": [m.to_json() for m in self.members.values()], "calls": list(self.calls)}


class SferumWorld:
    """Everything the sandbox knows. Thread-safe: the app may serve requests concurrently.

    ``rate_limit`` requests in any sliding second per token are accepted (VK's classic 3/s);
    only accepted requests count. ``scripted_errors`` are VK error codes to answer the next
    method calls with, in order (after the token check), for tests of flood control and such.
    """

    def __init__(self, token: str = SANDBOX_TOKEN, rate_limit: int = 3) -> None:
        self.token = token
        self.rate_limit = rate_limit
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.chats: dict[int, SandboxChat] = {}
            self.unknown_phones: set[str] = set()
            self.scripted_errors: deque[int] = deque()
            self.request_times: dict[str, deque[float]] = {}
            self._chat_ids = itertools.count(2_000_000_001)
            self._call_ids = itertools.count(1)

    def take_rate_slot(self, token: str, now: float) -> bool:
        """True when the request may go on (and is counted); False when the second is full."""
        with self.lock:
            times = self.request_times.setdefault(token, deque())
            while times and times[0] <= now - 1.0:
                times.popleft()
            if len(times) >= self.rate_limit:
                return False
            times.append(now)
            return True

    def next_scripted_error(self) -> int | None:
        with self.lock:
            return self.scripted_errors.popleft() if self.scripted_errors else None

    def create_chat(self, title: str, chat_type: str) -> SandboxChat:
        with self.lock:
            chat_id = next(self._chat_ids)
            chat = SandboxChat(chat_id, title, chat_type, INVITE_LINK.format(secrets.token_urlsafe(12)))
            self.chats[chat_id] = chat
            return chat

    def add_users(self, chat: SandboxChat, users: list[dict[str, str]]) -> tuple[list[str], list[str]]:
        """(failed, queued) phones. A phone already in the chat is queued again with its new roles."""
        failed: list[str] = []
        queued: list[str] = []
        with self.lock:
            for user in users:
                phone = user["phone"]
                if phone in self.unknown_phones:
                    failed.append(phone)
                    continue
                chat.members[phone] = SandboxMember(phone, user["chat_role"], user["member_role"])
                queued.append(phone)
        return failed, queued

    def start_call(self, chat: SandboxChat) -> dict[str, Any]:
        with self.lock:
            call = {"call_id": f"{chat.chat_id}_{next(self._call_ids)}",
                    "join_link": JOIN_LINK.format(secrets.token_urlsafe(12)), "chat_id": chat.chat_id}
            chat.calls.append(call)
            return call
