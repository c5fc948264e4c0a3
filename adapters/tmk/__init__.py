"""The ТМК booking bot of seed 004 over MAX: dialog, identity, bookings, reminders, consultation chats,
and the SOAP face the МИС calls (wsdl/max-tmk.wsdl). An adapter of its own: it uses the client packages
``adapters.max`` (the MAX Bot API), ``adapters.hubservice`` (the МИС schedule) and ``adapters.sferum``,
and logs its users in through the ЕСИА adapter.

- ``_dialog``: updates in, screens out; ``_screens``: what the patient sees; ``_flow``: the booking steps;
- ``_identity``: the ЕСИА link; ``_records``: users, dialog state, seen updates in the store;
- ``_bookings``, ``_reminders``, ``_chats``, ``_upcoming``: after the booking;
- ``_notices``, ``_service``: what the МИС asks the bot to pass on;
- ``_adapter``: the adapter the core loads (webhook and login routes, the SOAP face, jobs);
- ``migrations``: the bot's tables (revision m002, on the ``max`` branch after the MAX client's m001);
- ``sandbox``: the sandboxes the bot runs against and a scripted messenger user for the demo and tests.
"""

from adapters.tmk._adapter import TmkAdapter, adapter
from adapters.tmk._bot import TmkBot
from adapters.tmk._service import build_service
from adapters.tmk._settings import TmkSettings

__all__ = ["TmkAdapter", "TmkBot", "TmkSettings", "adapter", "build_service"]
