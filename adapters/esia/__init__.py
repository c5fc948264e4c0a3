"""ЕСИА: patient accounts (seed 000) for the МИС over SOAP.

- ``_service``: the SOAP face the МИС calls (wsdl/esia-accounts.wsdl);
- ``_patients``: the rules of seed 000's four operations;
- ``_operations``: the adapter boundary to ЕСИА and its REST transport;
- ``sandbox``: the sandbox ЕСИА that plays the upstream.
"""

from adapters.esia._adapter import EsiaAdapter, adapter

__all__ = ["EsiaAdapter", "adapter"]
