"""The bot against sandboxes: the peers ``bridge serve --sandbox`` starts for it (the sandbox MAX, МИС
schedule and Sferum, with the settings that point at them) and a scripted patient in the sandbox MAX."""

from adapters.tmk.sandbox._peers import POOL, SCHEDULE_GUID, SFERUM_TOKEN, TOKEN, WEBHOOK_SECRET, sandbox_peers
from adapters.tmk.sandbox._script import MessengerUser, Screen

__all__ = ["POOL", "SCHEDULE_GUID", "SFERUM_TOKEN", "TOKEN", "WEBHOOK_SECRET", "MessengerUser", "Screen",
           "sandbox_peers"]
