"""The МИС schedule over the HubService contract: the bridge as a SOAP client (a client package, not an adapter).

The sandbox МИС is in ``adapters.hubservice.sandbox`` (spyne, its own store); import it from there.
"""

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
    "hubservice_upstream",
    "patient_text",
]
