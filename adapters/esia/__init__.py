"""ЕСИА: patient accounts (seed 000) for the МИС over SOAP.

- ``_service``: the SOAP face the МИС calls (wsdl/esia-accounts.wsdl);
- ``_patients``: the rules of seed 000's four operations;
- ``_client``: the adapter boundary to ЕСИА (``AccountOperations``) and its REST transport;
- ``sandbox``: the sandbox ЕСИА that plays the upstream.
"""

from adapters.esia._adapter import LOGIN_CONSUMERS, EsiaAdapter, adapter
from adapters.esia._login import EsiaLogin
from adapters.esia._login_http import COOKIE as LOGIN_COOKIE
from adapters.esia._login_http import LoginConsumer

__all__ = ["LOGIN_CONSUMERS", "LOGIN_COOKIE", "EsiaAdapter", "EsiaLogin", "LoginConsumer", "adapter"]
