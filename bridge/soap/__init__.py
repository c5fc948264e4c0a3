"""Hosting spyne SOAP services: the frozen WSDL, faults, metrics and the SOAPAction check."""

from bridge.soap._endpoint import BridgeServiceBase, SoapEndpoint, SoapService
from bridge.soap._wsdl import WsdlDocument, canonical_contract, generated_wsdl

__all__ = ["BridgeServiceBase", "SoapEndpoint", "SoapService", "WsdlDocument", "canonical_contract", "generated_wsdl"]
