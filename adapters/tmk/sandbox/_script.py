"""A scripted patient in the sandbox MAX: starts the bot, shares a phone, logs in through the sandbox
ЕСИА, reads screens and presses buttons by their text. ``bridge demo`` and the tests use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from adapters.esia.sandbox import consent


@dataclass(frozen=True)
class Screen:
    mid: str
    text: str
    buttons: list[dict[str, Any]]
    edits: int

    def labels(self) -> list[str]:
        return [str(b.get("text")) for b in self.buttons]

    def render(self) -> str:
        rows = "  ".join(f"[{b['text']}]" for b in self.buttons)
        return f"{self.text}\n{rows}" if rows else self.text


class MessengerUser:
    def __init__(self, max_url: str, user_id: int, first_name: str = "Анна", last_name: str = "Смирнова") -> None:
        self.user_id = user_id
        self._max = httpx.Client(base_url=max_url, timeout=30)
        self._names = {"first_name": first_name, "last_name": last_name}

    def close(self) -> None:
        self._max.close()

    def start(self) -> Screen:
        self._ok(self._max.post(f"/_sandbox/max/users/{self.user_id}/start", json=self._names))
        return self.screen()

    def write(self, text: str) -> Screen:
        self._ok(self._max.post(f"/_sandbox/max/users/{self.user_id}/text", json={"text": text}))
        return self.screen()

    def share_phone(self, phone: str) -> Screen:
        self._ok(self._max.post(f"/_sandbox/max/users/{self.user_id}/contact", json={"phone": phone}))
        return self.screen()

    def stop(self) -> None:
        self._ok(self._max.post(f"/_sandbox/max/users/{self.user_id}/stop"))

    def screen(self) -> Screen:
        last = self._ok(self._max.get(f"/_sandbox/max/users/{self.user_id}/last")).json()
        return Screen(last["mid"], last["text"] or "", last["buttons"], last["edits"])

    def messages(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = self._ok(self._max.get(f"/_sandbox/max/users/{self.user_id}/messages")).json()
        return found

    def press(self, label: str) -> Screen:
        """Press the button whose text starts with ``label`` on the bot's last message."""
        current = self.screen()
        for button in current.buttons:
            if button.get("type") == "callback" and str(button.get("text", "")).startswith(label):
                self._ok(self._max.post(f"/_sandbox/max/users/{self.user_id}/press",
                                        json={"payload": button["payload"]}))
                return self.screen()
        raise AssertionError(f"no button {label!r} on the screen: {current.labels()}\n{current.text}")

    def choices(self, kind: str) -> list[str]:
        """Labels of the offered choices of one kind (``t`` dates, ``a`` times…), in order."""
        return [str(b["text"]) for b in self.screen().buttons
                if b.get("type") == "callback" and f"|{kind}:" in str(b.get("payload", ""))]

    def link(self, label: str) -> str:
        for button in self.screen().buttons:
            if button.get("type") == "link" and str(button.get("text", "")).startswith(label):
                return str(button["url"])
        raise AssertionError(f"no link button {label!r}: {self.screen().labels()}")

    def login_with_esia(self) -> str:
        """Follow the bot's login link in a browser through the sandbox ЕСИА; the page the bridge shows."""
        with httpx.Client(timeout=30, follow_redirects=False) as browser:
            answer = browser.get(self.link("Войти через Госуслуги"))
            if answer.status_code != 302:
                return answer.text
            back = consent(browser, answer.headers["location"], lambda _: None)
            return browser.get(back).text

    @staticmethod
    def _ok(response: httpx.Response) -> httpx.Response:
        if response.status_code >= 400:
            raise AssertionError(f"sandbox MAX answered {response.status_code}: {response.text[:300]}")
        return response
