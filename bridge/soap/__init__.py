"""Hosting spyne SOAP services: the frozen WSDL and its lint, faults, metrics and the SOAPAction check."""

from bridge.errors import AccessDenied
from bridge.soap._access import AccessPolicy, Caller, Client, current_caller
from bridge.soap._asgi import SoapPostsFirst, WsgiOneHop, set_soap_capacity
from bridge.soap._endpoint import SoapEndpoint
from bridge.soap._lint import RULES as LINT_RULES
from bridge.soap._lint import LintFinding, lint_contract
from bridge.soap._service import BridgeServiceBase, ServiceApplication, SoapService, provided, rpc, text_element
from bridge.soap._wsdl import WsdlDocument, canonical_contract, generated_wsdl

__all__ = [
    "LINT_RULES",
    "AccessDenied",
    "AccessPolicy",
    "BridgeServiceBase",
    "Caller",
    "Client",
    "LintFinding",
    "ServiceApplication",
    "SoapEndpoint",
    "SoapPostsFirst",
    "SoapService",
    "WsdlDocument",
    "WsgiOneHop",
    "canonical_contract",
    "current_caller",
    "generated_wsdl",
    "lint_contract",
    "provided",
    "rpc",
    "set_soap_capacity",
    "text_element",
]
