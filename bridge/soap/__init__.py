"""Hosting spyne SOAP services: the frozen WSDL, faults, metrics and the SOAPAction check."""

from bridge.soap._access import AccessDenied, AccessPolicy, Caller, Client, current_caller
from bridge.soap._asgi import SoapPostsFirst, WsgiOneHop, set_soap_capacity
from bridge.soap._endpoint import BridgeServiceBase, SoapEndpoint, SoapService
from bridge.soap._wsdl import WsdlDocument, canonical_contract, generated_wsdl

__all__ = [
    "AccessDenied",
    "AccessPolicy",
    "BridgeServiceBase",
    "Caller",
    "Client",
    "SoapEndpoint",
    "SoapPostsFirst",
    "SoapService",
    "WsdlDocument",
    "WsgiOneHop",
    "canonical_contract",
    "current_caller",
    "generated_wsdl",
    "set_soap_capacity",
]
