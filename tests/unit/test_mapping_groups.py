"""Fields read from the same parent object are compiled into a group (``bridge.mapping._plan``).

The parent of a run of fields (``p.snils``, ``p.name``, …) is looked up and checked once per record;
these tests pin down that this gives exactly what looking every field up from the root gave: the
same output (keys in file order), and for a bad record the same first failing field, reason and
metric label – for a parent that is missing, empty, not an object, a list, or a read-only mapping.
"""

from __future__ import annotations

import collections.abc as cabc
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
from prometheus_client import REGISTRY

from bridge.mapping import Mapping, MappingValueError, load_mapping

# A top-level field, a run of fields under p (with a deeper path and a required field), a top-level
# field, p again (a second run), then q (a one-way field first) with a table, and a field three
# levels deep; МИС-side targets at one, two and three levels.
GROUPS = """\
mapping: test.groups
fields:
  - {mis: Top, upstream: top, label: Top}
  - {mis: PSnils, upstream: p.snils, transform: snils, label: СНИЛС}
  - {mis: PName, upstream: p.name, label: Имя, required: true}
  - {mis: Addr.City, upstream: p.addr.city, label: Город}
  - {mis: Addr.Street, upstream: p.addr.street, transform: upper, label: Улица}
  - {mis: Mid, upstream: mid, label: Середина}
  - {mis: PAgain, upstream: p.again, label: Ещё}
  - {mis: QOne, upstream: q.one, label: Q1, direction: to_mis}
  - {mis: Deep.X.Y, upstream: q.two, label: Q2, table: {"a": "b", "c": "d"}}
  - {mis: Last, upstream: r.s.t, label: Последнее}
"""

UPSTREAM: dict[str, Any] = {
    "top": "t",
    "p": {"snils": "112-233-445 95", "name": "Анна", "addr": {"city": "Барнаул", "street": "Ленина"}, "again": "a"},
    "mid": "m",
    "q": {"one": "1", "two": "b"},
    "r": {"s": {"t": "z"}},
}
MIS: dict[str, Any] = {
    "Top": "t",
    "PSnils": "11223344595",
    "PName": "Анна",
    "Addr": {"City": "Барнаул", "Street": "Ленина"},
    "Mid": "m",
    "PAgain": "a",
    "QOne": "1",
    "Deep": {"X": {"Y": "a"}},
    "Last": "z",
}


@pytest.fixture(scope="module")
def groups(tmp_path_factory: pytest.TempPathFactory) -> Mapping:
    path = tmp_path_factory.mktemp("groups") / "groups.yaml"
    path.write_text(textwrap.dedent(GROUPS), encoding="utf-8")
    return load_mapping(path)


def with_p(p: Any) -> dict[str, Any]:
    return {**UPSTREAM, "p": p}


def failure(mapping: Mapping, record: Any) -> MappingValueError:
    with pytest.raises(MappingValueError) as err:
        mapping.to_mis(record)
    return err.value


def errors_metric(field: str) -> float:
    labels = {"mapping": "test.groups", "field": field, "direction": "to_mis"}
    return REGISTRY.get_sample_value("bridge_mapping_errors_total", labels) or 0.0


def test_full_record_and_key_order(groups: Mapping) -> None:
    out = groups.to_mis(UPSTREAM)
    assert out == MIS
    assert list(out) == ["Top", "PSnils", "PName", "Addr", "Mid", "PAgain", "QOne", "Deep", "Last"]
    assert list(out["Addr"]) == ["City", "Street"]


def test_to_upstream_builds_nested_targets_in_order(groups: Mapping) -> None:
    out = groups.to_upstream(MIS)
    assert out == {
        "top": "t",
        "p": {"snils": "112-233-445 95", "name": "Анна", "addr": {"city": "Барнаул", "street": "ЛЕНИНА"},
              "again": "a"},
        "mid": "m",
        "q": {"two": "b"},
        "r": {"s": {"t": "z"}},
    }
    assert list(out) == ["top", "p", "mid", "q", "r"]
    assert list(out["p"]) == ["snils", "name", "addr", "again"]
    # no value under a target parent: the parent is not created, not even as {}
    assert groups.to_upstream({"PName": "Анна", "Mid": ""}) == {"p": {"name": "Анна"}}
    assert groups.to_upstream({"PName": "Анна", "Addr": {"City": ""}, "Deep": {"X": {}}}) == {"p": {"name": "Анна"}}


def test_the_parent_of_a_run_is_looked_up_once(groups: Mapping) -> None:
    class Counting(cabc.Mapping[str, Any]):
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data
            self.lookups: dict[str, int] = {}

        def __getitem__(self, key: str) -> Any:
            self.lookups[key] = self.lookups.get(key, 0) + 1
            return self.data[key]

        def __iter__(self) -> Iterator[str]:
            return iter(self.data)

        def __len__(self) -> int:
            return len(self.data)

    record = Counting(UPSTREAM)
    assert groups.to_mis(record) == groups.to_mis(UPSTREAM)
    # p: once for the first run (4 fields), once for the second (1 field); q: once for its 2 fields
    assert record.lookups == {"top": 1, "p": 2, "mid": 1, "q": 1, "r": 1}


@pytest.mark.parametrize("absent", [{}, {"p": None}])
def test_missing_parent_makes_its_fields_absent(groups: Mapping, absent: dict[str, Any]) -> None:
    record = {key: value for key, value in UPSTREAM.items() if key != "p"} | absent
    err = failure(groups, record)
    # PSnils (before it, not required) is skipped; the required PName is reported
    assert (err.field, err.direction, err.reason) == ("PName", "to_mis", "required value is missing or empty")
    out = groups.to_mis({**record, "p": {"name": "Анна"}})
    assert out == {"Top": "t", "PName": "Анна", "Mid": "m", "QOne": "1", "Deep": {"X": {"Y": "a"}}, "Last": "z"}
    assert list(out) == ["Top", "PName", "Mid", "QOne", "Deep", "Last"]


def test_missing_parent_of_optional_fields(groups: Mapping) -> None:
    out = groups.to_mis({"top": "t", "p": {"name": "Анна"}, "mid": "m"})
    assert out == {"Top": "t", "PName": "Анна", "Mid": "m"}


@pytest.mark.parametrize("bad", ["", "Барнаул", 0, 7, ["name", "Анна"], [{"name": "Анна"}], ("x",), True])
def test_parent_not_an_object_is_the_first_field_of_the_run(groups: Mapping, bad: Any) -> None:
    before = errors_metric("PSnils")
    err = failure(groups, with_p(bad))
    assert (err.field, err.reason) == ("PSnils", "expected an object at 'p'")
    assert str(err) == "mapping test.groups, field PSnils (to_mis): expected an object at 'p'"
    assert errors_metric("PSnils") == before + 1
    assert err.__cause__ is None and err.__suppress_context__
    if isinstance(bad, str) and bad:
        assert bad not in str(err)


def test_a_bad_field_before_the_run_is_reported_first(groups: Mapping) -> None:
    err = failure(groups, {**with_p("not an object"), "top": None, "q": {"two": "x"}})
    assert err.field == "PSnils"
    # the table field of q fails only once p is fine
    err = failure(groups, {**UPSTREAM, "q": {"two": "x"}})
    assert (err.field, err.reason) == ("Deep.X.Y", "значение не из справочника; допустимы: 'b', 'd'")


def test_second_run_under_the_same_parent(groups: Mapping) -> None:
    # p is read again for PAgain; a value error there names PAgain's run, not the first field
    record = {**UPSTREAM, "p": {"name": "Анна", "again": "b"}}
    assert groups.to_mis(record)["PAgain"] == "b"
    err = failure(groups, {**UPSTREAM, "q": "not an object"})
    assert (err.field, err.reason) == ("QOne", "expected an object at 'q'")


def test_a_one_way_field_does_not_hide_the_run_in_the_other_direction(groups: Mapping) -> None:
    # to_upstream skips QOne; the q run then starts at Deep.X.Y (МИС side: Deep is not an object)
    with pytest.raises(MappingValueError) as err:
        groups.to_upstream({**MIS, "Deep": "x"})
    assert (err.value.field, err.value.direction, err.value.reason) == (
        "Deep.X.Y", "to_upstream", "expected an object at 'Deep'"
    )


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        (with_p({"name": "Анна", "addr": "Барнаул"}), "Addr.City", "expected an object at 'p.addr'"),
        (with_p({"name": "Анна", "addr": ["Барнаул"]}), "Addr.City", "expected an object at 'p.addr'"),
        ({**UPSTREAM, "r": {"s": 5}}, "Last", "expected an object at 'r.s'"),
        ({**UPSTREAM, "r": []}, "Last", "expected an object at 'r'"),
        (with_p({"snils": "112-233-445 94", "name": "Анна"}), "PSnils", "неверная контрольная сумма СНИЛС"),
        (with_p({"snils": "11223344595", "name": ""}), "PSnils", "ожидается СНИЛС в виде XXX-XXX-XXX YY"),
        (with_p({"snils": "", "name": ""}), "PName", "required value is missing or empty"),
    ],
)
def test_errors_inside_a_run_name_the_whole_path_and_field(
    groups: Mapping, record: dict[str, Any], field: str, reason: str
) -> None:
    err = failure(groups, record)
    assert (err.field, err.reason) == (field, reason)


def test_deeper_paths_under_a_missing_or_empty_object(groups: Mapping) -> None:
    base = {"p": {"name": "Анна"}}
    assert groups.to_mis({**base, "r": {}}) == {"PName": "Анна"}
    assert groups.to_mis({**base, "r": {"s": None}}) == {"PName": "Анна"}
    assert groups.to_mis({"p": {"name": "Анна", "addr": None}}) == {"PName": "Анна"}
    assert groups.to_mis({"p": {"name": "Анна", "addr": {"street": "Ленина"}}}) == {
        "PName": "Анна",
        "Addr": {"Street": "Ленина"},
    }


def test_read_only_mappings_as_parent_and_record(groups: Mapping) -> None:
    record = MappingProxyType({**UPSTREAM, "p": MappingProxyType({"name": "Анна", "addr": MappingProxyType({})})})
    assert groups.to_mis(record) == {"Top": "t", "PName": "Анна", "Mid": "m", "QOne": "1",
                                      "Deep": {"X": {"Y": "a"}}, "Last": "z"}


def test_source_record_is_not_modified(groups: Mapping) -> None:
    record = {"top": "t", "p": {"name": "Анна"}}
    groups.to_mis(record)
    assert record == {"top": "t", "p": {"name": "Анна"}}
    out = groups.to_upstream({"PName": "Анна"})
    out["p"]["name"] = "changed"
    assert groups.to_upstream({"PName": "Анна"}) == {"p": {"name": "Анна"}}


def test_card_mapping_groups_patient_and_applicant() -> None:
    card = load_mapping(Path(__file__).resolve().parents[2] / "mappings" / "egisz" / "application.yaml")
    record = dict(card.examples[0].upstream)
    with pytest.raises(MappingValueError) as err:
        card.to_mis({**record, "patient": ["not", "an", "object"]})
    assert (err.value.field, err.value.reason) == ("PatientGuid", "expected an object at 'patient'")
    with pytest.raises(MappingValueError) as err:
        card.to_mis({**record, "applicant": "Смирнова"})
    assert (err.value.field, err.value.reason) == ("ApplicantGuid", "expected an object at 'applicant'")
    with pytest.raises(MappingValueError) as err:
        card.to_mis({**record, "patient": {**record["patient"], "policy": "2253909150477125"}})
    assert (err.value.field, err.value.reason) == ("OmsPolicy", "expected an object at 'patient.policy'")
    out = card.to_mis({**record, "patient": None, "applicant": {}})
    assert list(out) == ["OrderNumber", "MoOid", "Department", "DistrictNumber", "ApplicationDate", "ChangeDate",
                         "AttachmentType"]

