"""The ТМК booking bot of seed 004 over MAX: dialog, identity, bookings, reminders, consultation chats,
and the SOAP face the МИС calls (wsdl/max-tmk.wsdl).

- ``_dialog``: updates in, screens out; ``_screens``: what the patient sees; ``_flow``: the booking steps;
- ``_identity``: the ЕСИА link; ``_records``: users, dialog state, seen updates in the store;
- ``_bookings``, ``_reminders``, ``_chats``, ``_upcoming``: after the booking;
- ``_notices``, ``_service``: what the МИС asks the bot to pass on.
"""

from adapters.max.tmk._bot import TmkBot
from adapters.max.tmk._service import build_service
from adapters.max.tmk._settings import TmkSettings

__all__ = ["TmkBot", "TmkSettings", "build_service"]
