"""Realistic «Прикрепление онлайн» applications, generated on demand from (seed, index).

A batch is a ``BatchSpec``: the MOs, a half-open window ``[start, end)``, a count, a seed and
the shares of children, cancellations and detachments. Task ``index`` of a batch is a pure
function of the spec and the index, so a batch of 100,000 costs nothing until a page of it is
asked for, and any page is O(page):

- time: ``start + (end − start)·index // count`` (non-decreasing), ids end in the zero-padded
  index, so ``(update_date, id)`` grows with the index and a cursor is found by bisection;
- MO: ``mos[index % len(mos)]``, so one MO's tasks are an arithmetic progression of indices;
- a cancellation (order_type 3) at ``j`` cancels the application at ``j − len(mos)`` (same MO, same
  patient, earlier): a choice, or a detachment (SAMSON knows those: they can only be rejected);
  only a task not itself drawn as a cancellation can be cancelled, so every application is
  cancelled at most once and every cancellation points at a choice or a detachment;
- SNILS, ЕНП and order numbers are bijections of the index: unique within a batch, with valid
  check digits (reference/egisz.md §4.2–4.3).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any, TypeVar

from adapters.egisz.sandbox import _names as names
from bridge.identifiers import snils_check_digits

__all__ = [
    "MO_OID",
    "MSK",
    "Batch",
    "BatchSpec",
    "enp_check_digit",
    "format_moment",
    "generate_applications",
    "split_task_id",
]

MSK = timezone(timedelta(hours=3), "MSK")
MO_OID = re.compile(r"^1\.2\.643\.5\.1\.13\.13\.12\.2\.\d{1,2}\.\d{1,7}$")
_T = TypeVar("_T")
_TASK_ID = re.compile(r"^([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-a[0-9a-f]{3})-([0-9a-f]{12})$")
_SNILS_BASE, _SNILS_SPAN = 1_002_000, 998_998_000     # above 001-001-998: check digits apply
# Cumulative chances out of 256: MTH 0.6, FTH 0.3, PRNFOST 0.06, the rest ADOPTP (SAMSON's four codes).
_RELATIONS = (("MTH", 154), ("FTH", 230), ("PRNFOST", 245))
_P54, _P60, _P70, _P80, _P85 = 138, 154, 179, 205, 218   # round(p · 256)
_REASONS = {1: names.CHOICE_REASONS, 2: names.DETACHMENT_REASONS, 3: names.CANCELLATION_REASONS}


def _digest(key: bytes, index: int, salt: bytes) -> bytes:
    """64 pseudo-random bytes for (seed, index, salt): one C call, hardly any Python objects."""
    return hashlib.blake2b(index.to_bytes(8, "big"), digest_size=64, key=key, person=salt).digest()


class _Draws:
    """Draws from one digest of a task: small numbers straight from its bytes (biases below 1/100 are fine here)."""

    __slots__ = ("_at", "_bytes")

    def __init__(self, data: bytes) -> None:
        self._bytes, self._at = data, 0

    def byte(self) -> int:
        """0..255: compare with ``round(p · 256)`` for a chance p (no float, no allocation)."""
        at = self._at
        self._at = at + 1
        return self._bytes[at]

    def below(self, n: int) -> int:
        if n <= 16:
            return self.byte() % n
        if n <= 1024:
            return (self.byte() << 8 | self.byte()) % n
        at = self._at
        self._at = at + 4
        return int.from_bytes(self._bytes[at:at + 4], "big") % n

    def between(self, low: int, high: int) -> int:
        """An integer in [low, high]."""
        return low + self.below(high - low + 1)

    def choice(self, options: tuple[_T, ...]) -> _T:
        return options[self.below(len(options))]

    def uuid4(self) -> str:
        h = self._bytes[self._at:self._at + 16].hex()
        self._at += 16
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def enp_check_digit(first15: str) -> str:
    """Check digit of a 16-digit ЕНП (ISO/HL7 27931 Mod10 as ФФОМС defines it, reference/egisz.md §4.3)."""
    if len(first15) != 15 or not (first15.isascii() and first15.isdigit()):
        raise ValueError("an ЕНП without its check digit must be exactly 15 digits")
    from_right = first15[::-1]
    combined = from_right[1::2] + str(int(from_right[0::2]) * 2)
    return str((10 - sum(int(digit) for digit in combined) % 10) % 10)


def format_moment(ts: int) -> str:
    """Epoch seconds as the upstream writes them: ISO 8601 in Moscow time, ``2026-11-20T09:14:03+03:00``."""
    return datetime.fromtimestamp(ts, MSK).isoformat()


def split_task_id(task_id: str) -> tuple[str, int] | None:
    """``(batch prefix, last group as a number)`` of a generated task id, or None for any other id."""
    match = _TASK_ID.match(task_id)
    return None if match is None else (match.group(1), int(match.group(2), 16))


@dataclass(frozen=True)
class BatchSpec:
    mos: tuple[str, ...]
    start: datetime
    end: datetime
    count: int
    seed: int = 0
    children_share: float = 0.3
    cancellation_share: float = 0.1
    detachment_share: float = 0.1

    def __post_init__(self) -> None:
        if not self.mos or len(set(self.mos)) != len(self.mos) or not all(MO_OID.match(mo) for mo in self.mos):
            raise ValueError("mos must be distinct MO OIDs 1.2.643.5.1.13.13.12.2.<region>.<n>")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("the window must be aware datetimes")
        if math.ceil(self.start.timestamp()) >= math.ceil(self.end.timestamp()):
            raise ValueError("the window must hold at least one whole second: start < end")
        if not -(2**63) <= self.seed < 2**63:
            raise ValueError("seed must fit in 64 bits")
        if not 0 < self.count <= 10_000_000:
            raise ValueError("count must be within 1..10,000,000")
        shares = (self.children_share, self.cancellation_share, self.detachment_share)
        if not all(0.0 <= share <= 1.0 for share in shares) or self.cancellation_share + self.detachment_share > 0.9:
            raise ValueError("shares must be within 0..1 and cancellations + detachments at most 0.9")

    def to_json(self) -> str:
        return json.dumps({
            "mos": list(self.mos), "start": self.start.isoformat(), "end": self.end.isoformat(),
            "count": self.count, "seed": self.seed, "children_share": self.children_share,
            "cancellation_share": self.cancellation_share, "detachment_share": self.detachment_share,
        }, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> BatchSpec:
        data = json.loads(text)
        return cls(mos=tuple(data["mos"]), start=datetime.fromisoformat(data["start"]),
                   end=datetime.fromisoformat(data["end"]), count=data["count"], seed=data["seed"],
                   children_share=data["children_share"], cancellation_share=data["cancellation_share"],
                   detachment_share=data["detachment_share"])

    @property
    def prefix(self) -> str:
        """The first four groups of every task id of the batch (a UUID-shaped id, index in the last group)."""
        h = hashlib.sha256(self.to_json().encode()).hexdigest()
        return f"{h[0:8]}-{h[8:12]}-4{h[12:15]}-a{h[15:18]}"


class Batch:
    """Task ``index`` of a spec, and the cheap facts (time, id, MO, order type) paging needs."""

    def __init__(self, spec: BatchSpec) -> None:
        self.spec = spec
        self.prefix = spec.prefix
        # whole seconds inside [start, end) even when the window's ends carry fractions
        self._start = math.ceil(spec.start.timestamp())
        self._span = math.ceil(spec.end.timestamp()) - self._start
        self._k = len(spec.mos)
        self._mo_position = {mo: position for position, mo in enumerate(spec.mos)}
        # The last id group is offset + index·step: it grows with the index yet does not look like a counter.
        self._key = spec.seed.to_bytes(16, "big", signed=True)
        constants = _digest(self._key, 0, b"batch")
        self._id_offset = int.from_bytes(constants[0:5], "big")
        self._id_step = 1 + constants[5] % 251
        self._numbers = [int.from_bytes(constants[at:at + 8], "big") for at in (8, 16, 24)]
        # A cancellation needs the task len(mos) earlier not to be drawn a cancellation itself: draw it
        # with p where p·(1 − p) = cancellation_share, so that about that share ends up cancellations.
        p_detach = spec.detachment_share / max(1e-9, 1.0 - spec.cancellation_share)
        ratio = spec.cancellation_share
        p_cancel = 0.5 if ratio >= 0.25 else (1.0 - math.sqrt(1.0 - 4.0 * ratio)) / 2.0
        self._detach_below, self._cancel_below = round(min(1.0, p_detach) * 65536), round(p_cancel * 65536)
        self._child_below = round(spec.children_share * 256)

    # --- cheap facts -----------------------------------------------------------------------

    def ts(self, index: int) -> int:
        return self._start + self._span * index // self.spec.count

    def task_id(self, index: int) -> str:
        return f"{self.prefix}-{self._id_offset + index * self._id_step:012x}"

    def index_of(self, task_id: str) -> int | None:
        """The index of one of this batch's task ids, None for any other id."""
        parts = split_task_id(task_id)
        if parts is None or parts[0] != self.prefix:
            return None
        index, remainder = divmod(parts[1] - self._id_offset, self._id_step)
        return index if remainder == 0 and 0 <= index < self.spec.count else None

    def sort_key(self, index: int) -> tuple[int, str]:
        return self.ts(index), self.task_id(index)

    def indices(self, mo: str) -> range:
        """The indices of one MO's tasks, in (update_date, id) order; empty for an MO not in the batch."""
        position = self._mo_position.get(mo)
        return range(0) if position is None else range(position, self.spec.count, self._k)

    def mo(self, index: int) -> str:
        return self.spec.mos[index % self._k]

    def _draws(self, index: int) -> tuple[bool, int]:
        """Whether ``index`` is drawn as a cancellation, and its type otherwise (1 choice, 2 detachment)."""
        data = _digest(self._key, index, b"type")
        return (data[0] << 8 | data[1]) < self._cancel_below, 2 if (data[2] << 8 | data[3]) < self._detach_below else 1

    def order_type(self, index: int) -> int:
        cancel, base = self._draws(index)
        earlier = index - self._k
        if cancel and earlier >= 0:
            earlier_cancel, _ = self._draws(earlier)
            if not earlier_cancel:   # a choice, or a detachment (SAMSON: such a cancellation can only be rejected)
                return 3
        return base

    # --- the task --------------------------------------------------------------------------

    def task(self, index: int) -> dict[str, Any]:
        if not 0 <= index < self.spec.count:
            raise IndexError(index)
        order_type = self.order_type(index)
        subject = index - self._k if order_type == 3 else index
        rng = _Draws(_digest(self._key, index, b"task"))
        moment = format_moment(self.ts(index))
        task: dict[str, Any] = {
            "id": self.task_id(index),
            "order_number": str(1_000_000_000 + (index * 1_299_709 + self._numbers[0]) % 9_000_000_000),
            "order_type": order_type,
            "related_task_id": self.task_id(subject) if order_type == 3 else None,
            "status": "in-progress",
            "create_date": moment,
            "update_date": moment,
        }
        task.update(self._application(subject))
        task["reason"] = rng.choice(_REASONS[order_type])
        task["result"] = None
        return task

    def _application(self, index: int) -> dict[str, Any]:
        """What a cancellation shares with the choice it cancels: the patient, MO, department, area."""
        rng = _Draws(_digest(self._key, index, b"person") + _digest(self._key, index, b"person2"))
        created = datetime.fromtimestamp(self.ts(index), MSK).date()
        child = rng.byte() < self._child_below
        female = rng.byte() < _P54
        family = rng.below(len(names.SURNAMES))
        father = rng.below(len(names.PATRONYMICS))
        if child:
            born = created - timedelta(days=rng.between(30, 17 * 365 + 359))
            kind = "PEDIATRIC" if rng.byte() < _P85 else "DENTAL"
        else:
            born = created - timedelta(days=rng.between(18 * 366 + 1, 88 * 365))
            roll = rng.byte()
            if female:
                kind = "THERAPEUTIC" if roll < _P60 else "GYNECOLOGICAL" if roll < _P85 else "DENTAL"
            else:
                kind = "THERAPEUTIC" if roll < _P80 else "DENTAL"
        mo = self.mo(index)
        department, suffix = rng.choice(names.DEPARTMENTS[kind])
        application: dict[str, Any] = {
            "attachment_type": kind,
            "mo_oid": mo,
            "department_oid": f"{mo}.0.{suffix}",
            "department_name": department,
            "area": str(rng.between(1, 45)),
            "patient": self._patient(rng, index, female, family, father, born),
        }
        if child:
            application["applicant"] = _applicant(rng, family, father)
        return application

    def _patient(self, rng: _Draws, index: int, female: bool, family: int, father: int,
                 born: date) -> dict[str, Any]:
        first9 = str(_SNILS_BASE + (index * 179_424_673 + self._numbers[1]) % _SNILS_SPAN).zfill(9)
        first15 = "22" + str((index * 15_485_863 + self._numbers[2]) % 10**13).zfill(13)
        registration = _address(rng)
        return {
            "guid": rng.uuid4(),
            "snils": f"{first9[:3]}-{first9[3:6]}-{first9[6:9]} {snils_check_digits(first9)}",
            "last_name": names.SURNAMES[family][int(female)],
            "first_name": rng.choice(names.FEMALE_FIRST if female else names.MALE_FIRST),
            "middle_name": names.PATRONYMICS[father][2 if female else 1],
            "birth_date": born.isoformat(),
            "sex": "female" if female else "male",
            "phone": f"+7({rng.choice(names.MOBILE_CODES)}){rng.below(10**7):07d}",
            "policy": {"type": 3 if rng.byte() < _P80 else 2, "number": first15 + enp_check_digit(first15)},
            "reg_address": registration,
            "loc_address": registration if rng.byte() < _P70 else _address(rng),
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self.task(index) for index in range(self.spec.count))


def _applicant(rng: _Draws, family: int, father: int) -> dict[str, Any]:
    roll = rng.byte()
    relationship = next((code for code, below in _RELATIONS if roll < below), "ADOPTP")
    if relationship == "FTH":
        female, surname, first = False, names.SURNAMES[family][0], names.PATRONYMICS[father][0]
    else:
        female = relationship == "MTH" or rng.byte() < _P70
        surname = names.SURNAMES[family if relationship == "MTH" else rng.below(len(names.SURNAMES))][int(female)]
        first = rng.choice(names.FEMALE_FIRST if female else names.MALE_FIRST)
    return {
        "guid": rng.uuid4(),
        "last_name": surname,
        "first_name": first,
        "middle_name": rng.choice(names.PATRONYMICS)[2 if female else 1],
        "relationship": relationship,
    }


def _address(rng: _Draws) -> str:
    city, postcode, streets = rng.choice(names.CITIES_WEIGHTED)
    flat = f", кв. {rng.between(1, 240)}" if rng.byte() < _P85 else ""
    return (f"{postcode}{rng.between(1, 99):02d}, {names.REGION}, {city}, {rng.choice(streets)}, "
            f"д. {rng.between(1, 250)}{flat}")


def generate_applications(spec: BatchSpec, first: int = 0) -> Iterator[dict[str, Any]]:
    """The batch's tasks from ``first`` on, one at a time, in (update_date, id) order."""
    batch = Batch(spec)
    for index in range(first, spec.count):
        yield batch.task(index)
