"""The sandbox МИС: a HubService-compatible schedule with its own store and the МИС's checks."""

from adapters.hubservice.sandbox._app import WSDL_PATH, create_hubservice_sandbox, create_hubservice_wsgi
from adapters.hubservice.sandbox._data import DOCTORS
from adapters.hubservice.sandbox._service import build_application, hubservice_wsdl
from adapters.hubservice.sandbox._store import ERRORS, MisRefusal, ScheduleStore

__all__ = [
    "DOCTORS",
    "ERRORS",
    "WSDL_PATH",
    "MisRefusal",
    "ScheduleStore",
    "build_application",
    "create_hubservice_sandbox",
    "create_hubservice_wsgi",
    "hubservice_wsdl",
]
