"""The МИС schedule over the HubService contract: the bridge as a SOAP client, and a sandbox МИС."""

from adapters.hubservice._answers import ScheduleAnswerInvalid
from adapters.hubservice._client import (
    WSDL_PATH,
    Clinic,
    Doctor,
    PatientData,
    PatientRef,
    ScheduleClient,
    Slot,
    Speciality,
    Visit,
)
from adapters.hubservice._errors import PATIENT_TEXT, ScheduleRefused, patient_text
from adapters.hubservice._transport import UpstreamTransport, hubservice_upstream
from adapters.hubservice.sandbox import create_hubservice_sandbox, create_hubservice_wsgi

__all__ = [
    "PATIENT_TEXT",
    "WSDL_PATH",
    "Clinic",
    "Doctor",
    "PatientData",
    "PatientRef",
    "ScheduleAnswerInvalid",
    "ScheduleClient",
    "ScheduleRefused",
    "Slot",
    "Speciality",
    "UpstreamTransport",
    "Visit",
    "create_hubservice_sandbox",
    "create_hubservice_wsgi",
    "hubservice_upstream",
    "patient_text",
]
