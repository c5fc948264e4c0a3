"""``bridge serve --sandbox`` for the bot: the sandbox MAX (with the МИС's doctors as MAX users and a pool
of pre-created consultation groups), the sandbox МИС schedule, and the sandbox Sferum."""

from __future__ import annotations

from pathlib import Path

from adapters.hubservice.sandbox import DOCTORS, create_hubservice_sandbox
from adapters.max.sandbox import BOT_USER_ID, MaxWorld, SandboxChat, create_sandbox_app
from adapters.sferum.sandbox import SferumWorld, create_sferum_sandbox
from bridge.adapters import SandboxPeers

TOKEN = "sandbox-max-token"
WEBHOOK_SECRET = "sandbox-webhook-secret"
SCHEDULE_GUID = "sandbox-guid"
SFERUM_TOKEN = "sandbox-sferum-token"
POOL = [-70000000000 - i for i in range(1, 21)]   # group chat ids are negative in MAX


def sandbox_peers(workdir: Path, bridge_url: str) -> SandboxPeers:
    world = MaxWorld(token=TOKEN)
    for doctor in DOCTORS:
        if doctor.messenger_id:
            surname, name, *_ = doctor.name.split()
            user = world.user(int(doctor.messenger_id), name, surname)
            user.started = True
    for chat_id in POOL:
        world.chats[chat_id] = SandboxChat(chat_id, "Консультация ТМК", {BOT_USER_ID}, owner_id=BOT_USER_ID)
    sferum = SferumWorld(token=SFERUM_TOKEN)
    settings = {
        "token": TOKEN,
        "webhook_secret": WEBHOOK_SECRET,
        "public_url": bridge_url,
        "max_chats": POOL,
        "consultation_platform": "max",
        "timezone": "UTC",       # the sandbox МИС writes its schedule in the host's (UTC) time
        "schedule": {"guid": SCHEDULE_GUID, "endpoint": "/hubservice"},
        "sferum": {"token": SFERUM_TOKEN},
    }
    return SandboxPeers(apps={"max": create_sandbox_app(world), "hubservice": create_hubservice_sandbox(),
                              "sferum": create_sferum_sandbox(sferum)}, adapter_settings=settings)
