"""The baseline of bench_mapping.py: the mappings' conversions written by hand, in plain Python.

The same rules as the YAML files (absent and empty values skipped, required values enforced, the
same format checks and SNILS check digits, the same value tables); bench_mapping.py checks, before
timing, that each gives exactly the engine's output and fails where the engine fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

Record = dict[str, Any]
Convert = Callable[[Record], Record]


# --- the baseline: hand-written conversions ---------------------------------------------------
#
# Each function does what the mapping file says for its fields, in plain Python: a value that is
# absent (missing, None) or "" is skipped (an error if required), a transform checks its format
# and raises ValueError on a bad value, a table is a dict lookup (KeyError for an unknown value).

_SNILS_WEIGHTS = (9, 8, 7, 6, 5, 4, 3, 2, 1)


def _digits(text: Any, length: int) -> bool:
    return isinstance(text, str) and len(text) == length and text.isascii() and text.isdigit()


def _snils_ok(d: str) -> bool:
    if int(d[:9]) <= 1_001_998:            # issued before check digits existed
        return True
    total = sum(int(c) * w for c, w in zip(d[:9], _SNILS_WEIGHTS, strict=True))
    return int(d[9:]) == (total if total < 100 else total % 101 % 100)


def snils_up(v: Any) -> str:                # 05462367360 → 054-623-673 60
    if not (_digits(v, 11) and _snils_ok(v)):
        raise ValueError("snils")
    return f"{v[0:3]}-{v[3:6]}-{v[6:9]} {v[9:11]}"


def snils_mis(v: Any) -> str:               # 054-623-673 60 → 05462367360
    if not (isinstance(v, str) and len(v) == 14 and v[3] == "-" and v[7] == "-" and v[11] == " "):
        raise ValueError("snils")
    d = v[0:3] + v[4:7] + v[8:11] + v[12:14]
    if not (_digits(d, 11) and _snils_ok(d)):
        raise ValueError("snils")
    return d


def phone_up(v: Any) -> str:                # 89161234567 → +7(916)1234567
    if not (_digits(v, 11) and v[0] == "8"):
        raise ValueError("phone")
    return f"+7({v[1:4]}){v[4:11]}"


def phone_mis(v: Any) -> str:               # +7(916)1234567 → 89161234567
    if not (isinstance(v, str) and len(v) == 14 and v[0:3] == "+7(" and v[6] == ")"
            and _digits(v[3:6], 3) and _digits(v[7:14], 7)):
        raise ValueError("phone")
    return f"8{v[3:6]}{v[7:14]}"


def date_ru_iso(v: Any) -> str:             # 17.08.1979 → 1979-08-17
    if not (isinstance(v, str) and len(v) == 10 and v[2] == "." and v[5] == "."
            and _digits(v[0:2], 2) and _digits(v[3:5], 2) and _digits(v[6:10], 4)):
        raise ValueError("date")
    dt.date(int(v[6:10]), int(v[3:5]), int(v[0:2]))     # ValueError for 31.02
    return f"{v[6:10]}-{v[3:5]}-{v[0:2]}"


def date_iso_ru(v: Any) -> str:             # 1979-08-17 → 17.08.1979
    if not (isinstance(v, str) and len(v) == 10 and v[4] == "-" and v[7] == "-"
            and _digits(v[0:4], 4) and _digits(v[5:7], 2) and _digits(v[8:10], 2)):
        raise ValueError("date")
    dt.date(int(v[0:4]), int(v[5:7]), int(v[8:10]))
    return f"{v[8:10]}.{v[5:7]}.{v[0:4]}"


def _object(node: Any) -> dict[str, Any]:
    """A nested object of the source: {} when absent, an error when it is not an object."""
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise ValueError("expected an object")
    return node


def _required() -> ValueError:
    return ValueError("required value is missing or empty")


GENDER_ESIA = {"1": "M", "2": "F"}
GENDER_ESIA_MIS = {"M": "1", "F": "2"}
GENDER_EGISZ = {"1": "male", "2": "female"}
GENDER_EGISZ_MIS = {"male": "1", "female": "2"}
RELATION = {"MOTHER": "MTH", "FATHER": "FTH", "GUARDIAN": "PRNFOST", "TRUSTEE": "ADOPTP"}
RELATION_MIS = {"MTH": "MOTHER", "FTH": "FATHER", "PRNFOST": "GUARDIAN", "ADOPTP": "TRUSTEE"}


def account_to_upstream(src: Record) -> Record:
    out: Record = {}
    if (v := src.get("LastName")) is not None and v != "":
        out["lastName"] = v
    if (v := src.get("FirstName")) is not None and v != "":
        out["firstName"] = v
    if (v := src.get("MiddleName")) is not None and v != "":
        out["middleName"] = v
    if (v := src.get("BirthDate")) is not None and v != "":
        out["birthDate"] = date_ru_iso(v)
    if (v := src.get("Snils")) is None or v == "":
        raise _required()
    out["snils"] = snils_up(v)
    if (v := src.get("MobilePhone")) is not None and v != "":
        out["mobile"] = phone_up(v)
    if (v := src.get("Gender")) is not None and v != "":
        out["gender"] = GENDER_ESIA[v]
    return out


def account_to_mis(src: Record) -> Record:
    out: Record = {}
    if (v := src.get("lastName")) is not None and v != "":
        out["LastName"] = v
    if (v := src.get("firstName")) is not None and v != "":
        out["FirstName"] = v
    if (v := src.get("middleName")) is not None and v != "":
        out["MiddleName"] = v
    if (v := src.get("birthDate")) is not None and v != "":
        out["BirthDate"] = date_iso_ru(v)
    if (v := src.get("snils")) is None or v == "":
        raise _required()
    out["Snils"] = snils_mis(v)
    if (v := src.get("mobile")) is not None and v != "":
        out["MobilePhone"] = phone_mis(v)
    if (v := src.get("gender")) is not None and v != "":
        out["Gender"] = GENDER_ESIA_MIS[v]
    return out


def person_to_upstream(src: Record) -> Record:
    out: Record = {}
    if (v := src.get("Oid")) is None or v == "":
        raise _required()
    out["oid"] = v
    if (v := src.get("AccountConfirmed")) is not None and v != "":
        out["trusted"] = v
    if (v := src.get("LastName")) is not None and v != "":
        out["lastName"] = v
    if (v := src.get("FirstName")) is not None and v != "":
        out["firstName"] = v
    if (v := src.get("MiddleName")) is not None and v != "":
        out["middleName"] = v
    if (v := src.get("BirthDate")) is not None and v != "":
        out["birthDate"] = v
    if (v := src.get("Gender")) is not None and v != "":
        out["gender"] = GENDER_ESIA[v]
    if (v := src.get("Snils")) is not None and v != "":
        out["snils"] = snils_up(v)
    if (v := src.get("Inn")) is not None and v != "":
        out["inn"] = v
    if (v := src.get("BirthPlace")) is not None and v != "":
        out["birthPlace"] = v
    if (v := src.get("MobilePhone")) is not None and v != "":
        out["mobile"] = phone_up(v)
    if (v := src.get("Email")) is not None and v != "":
        out["email"] = v
    doc, passport = _object(src.get("Passport")), {}
    if (v := doc.get("Series")) is not None and v != "":
        passport["series"] = v
    if (v := doc.get("Number")) is not None and v != "":
        passport["number"] = v
    if (v := doc.get("IssueDate")) is not None and v != "":
        passport["issueDate"] = v
    if (v := doc.get("IssuedBy")) is not None and v != "":
        passport["issuedBy"] = v
    if (v := doc.get("IssuerCode")) is not None and v != "":
        passport["issueId"] = v
    if passport:
        out["passport"] = passport
    doc, policy = _object(src.get("OmsPolicy")), {}
    if (v := doc.get("Series")) is not None and v != "":
        policy["series"] = v
    if (v := doc.get("Number")) is not None and v != "":
        policy["number"] = v
    if policy:
        out["omsPolicy"] = policy
    if (v := src.get("RegistrationAddress")) is not None and v != "":
        out["registrationAddress"] = v
    if (v := src.get("ResidenceAddress")) is not None and v != "":
        out["residenceAddress"] = v
    return out


def person_to_mis(src: Record) -> Record:
    out: Record = {}
    if (v := src.get("oid")) is None or v == "":
        raise _required()
    out["Oid"] = v
    if (v := src.get("trusted")) is not None and v != "":
        out["AccountConfirmed"] = v
    if (v := src.get("lastName")) is not None and v != "":
        out["LastName"] = v
    if (v := src.get("firstName")) is not None and v != "":
        out["FirstName"] = v
    if (v := src.get("middleName")) is not None and v != "":
        out["MiddleName"] = v
    if (v := src.get("birthDate")) is not None and v != "":
        out["BirthDate"] = v
    if (v := src.get("gender")) is not None and v != "":
        out["Gender"] = GENDER_ESIA_MIS[v]
    if (v := src.get("snils")) is not None and v != "":
        out["Snils"] = snils_mis(v)
    if (v := src.get("inn")) is not None and v != "":
        out["Inn"] = v
    if (v := src.get("birthPlace")) is not None and v != "":
        out["BirthPlace"] = v
    if (v := src.get("mobile")) is not None and v != "":
        out["MobilePhone"] = phone_mis(v)
    if (v := src.get("email")) is not None and v != "":
        out["Email"] = v
    doc, passport = _object(src.get("passport")), {}
    if (v := doc.get("series")) is not None and v != "":
        passport["Series"] = v
    if (v := doc.get("number")) is not None and v != "":
        passport["Number"] = v
    if (v := doc.get("issueDate")) is not None and v != "":
        passport["IssueDate"] = v
    if (v := doc.get("issuedBy")) is not None and v != "":
        passport["IssuedBy"] = v
    if (v := doc.get("issueId")) is not None and v != "":
        passport["IssuerCode"] = v
    if passport:
        out["Passport"] = passport
    doc, policy = _object(src.get("omsPolicy")), {}
    if (v := doc.get("series")) is not None and v != "":
        policy["Series"] = v
    if (v := doc.get("number")) is not None and v != "":
        policy["Number"] = v
    if policy:
        out["OmsPolicy"] = policy
    if (v := src.get("registrationAddress")) is not None and v != "":
        out["RegistrationAddress"] = v
    if (v := src.get("residenceAddress")) is not None and v != "":
        out["ResidenceAddress"] = v
    return out


def application_to_upstream(src: Record) -> Record:
    out: Record = {}
    patient: Record = {}
    policy: Record = {}
    applicant: Record = {}
    if (v := src.get("OrderNumber")) is not None and v != "":
        out["order_number"] = v
    if (v := src.get("PatientGuid")) is not None and v != "":
        patient["guid"] = v
    if (v := src.get("Snils")) is not None and v != "":
        patient["snils"] = snils_up(v)
    if (v := src.get("LastName")) is not None and v != "":
        patient["last_name"] = v
    if (v := src.get("FirstName")) is not None and v != "":
        patient["first_name"] = v
    if (v := src.get("MiddleName")) is not None and v != "":
        patient["middle_name"] = v
    if (v := src.get("BirthDate")) is not None and v != "":
        patient["birth_date"] = date_ru_iso(v)
    if (v := src.get("Gender")) is not None and v != "":
        patient["sex"] = GENDER_EGISZ[v]
    if (v := src.get("OmsPolicy")) is not None and v != "":
        policy["number"] = v
    if (v := src.get("Phone")) is not None and v != "":
        patient["phone"] = phone_up(v)
    if (v := src.get("RegistrationAddress")) is not None and v != "":
        patient["reg_address"] = v
    if (v := src.get("ResidenceAddress")) is not None and v != "":
        patient["loc_address"] = v
    if (v := src.get("MoOid")) is not None and v != "":
        out["mo_oid"] = v
    if (v := src.get("Department")) is not None and v != "":
        out["department_name"] = v
    if (v := src.get("DistrictNumber")) is not None and v != "":
        out["area"] = v
    if (v := src.get("ApplicationDate")) is not None and v != "":
        out["create_date"] = v
    if (v := src.get("ChangeDate")) is not None and v != "":
        out["update_date"] = v
    if (v := src.get("AttachmentType")) is not None and v != "":
        out["attachment_type"] = v
    if (v := src.get("ApplicantGuid")) is not None and v != "":
        applicant["guid"] = v
    if (v := src.get("ApplicantLastName")) is not None and v != "":
        applicant["last_name"] = v
    if (v := src.get("ApplicantFirstName")) is not None and v != "":
        applicant["first_name"] = v
    if (v := src.get("ApplicantMiddleName")) is not None and v != "":
        applicant["middle_name"] = v
    if (v := src.get("Relation")) is not None and v != "":
        applicant["relationship"] = RELATION[v]
    if (v := src.get("CancelReason")) is not None and v != "":
        out["reason"] = v
    if policy:
        patient["policy"] = policy
    if patient:
        out["patient"] = patient
    if applicant:
        out["applicant"] = applicant
    return out


def application_to_mis(src: Record) -> Record:
    out: Record = {}
    patient = _object(src.get("patient"))
    applicant = _object(src.get("applicant"))
    if (v := src.get("order_number")) is not None and v != "":
        out["OrderNumber"] = v
    if (v := patient.get("guid")) is not None and v != "":
        out["PatientGuid"] = v
    if (v := patient.get("snils")) is not None and v != "":
        out["Snils"] = snils_mis(v)
    if (v := patient.get("last_name")) is not None and v != "":
        out["LastName"] = v
    if (v := patient.get("first_name")) is not None and v != "":
        out["FirstName"] = v
    if (v := patient.get("middle_name")) is not None and v != "":
        out["MiddleName"] = v
    if (v := patient.get("birth_date")) is not None and v != "":
        out["BirthDate"] = date_iso_ru(v)
    if (v := patient.get("sex")) is not None and v != "":
        out["Gender"] = GENDER_EGISZ_MIS[v]
    if (v := _object(patient.get("policy")).get("number")) is not None and v != "":
        out["OmsPolicy"] = v
    if (v := patient.get("phone")) is not None and v != "":
        out["Phone"] = phone_mis(v)
    if (v := patient.get("reg_address")) is not None and v != "":
        out["RegistrationAddress"] = v
    if (v := patient.get("loc_address")) is not None and v != "":
        out["ResidenceAddress"] = v
    if (v := src.get("mo_oid")) is not None and v != "":
        out["MoOid"] = v
    if (v := src.get("department_name")) is not None and v != "":
        out["Department"] = v
    if (v := src.get("area")) is not None and v != "":
        out["DistrictNumber"] = v
    if (v := src.get("create_date")) is not None and v != "":
        out["ApplicationDate"] = v
    if (v := src.get("update_date")) is not None and v != "":
        out["ChangeDate"] = v
    if (v := src.get("attachment_type")) is not None and v != "":
        out["AttachmentType"] = v
    if (v := applicant.get("guid")) is not None and v != "":
        out["ApplicantGuid"] = v
    if (v := applicant.get("last_name")) is not None and v != "":
        out["ApplicantLastName"] = v
    if (v := applicant.get("first_name")) is not None and v != "":
        out["ApplicantFirstName"] = v
    if (v := applicant.get("middle_name")) is not None and v != "":
        out["ApplicantMiddleName"] = v
    if (v := applicant.get("relationship")) is not None and v != "":
        out["Relation"] = RELATION_MIS[v]
    if (v := src.get("reason")) is not None and v != "":
        out["CancelReason"] = v
    return out
