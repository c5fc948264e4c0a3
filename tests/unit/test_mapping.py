"""The YAML field-mapping engine: transforms, semantics, load errors, examples, CLI, metrics."""

from __future__ import annotations

import re
import shutil
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY
from typer.testing import CliRunner

from bridge.identifiers import snils_check_digits, snils_checksum_ok
from bridge.mapping import (
    TRANSFORMS,
    ExampleFailure,
    FieldMapping,
    Mapping,
    MappingLoadError,
    MappingSet,
    MappingValueError,
    Transform,
    TransformError,
    check_directory,
    load_mapping,
    run_examples,
)
from bridge.mapping._cli import app

ROOT = Path(__file__).resolve().parents[2]
ESIA_FILE = ROOT / "mappings" / "esia" / "account.yaml"

SEED_MIS = {
    "LastName": "Иванова",
    "FirstName": "Мария",
    "MiddleName": "Петровна",
    "BirthDate": "17.08.1979",
    "Snils": "05462367360",
    "MobilePhone": "89161234567",
    "Gender": "2",
}
SEED_UPSTREAM = {
    "lastName": "Иванова",
    "firstName": "Мария",
    "middleName": "Петровна",
    "birthDate": "17.08.1979",  # ДД.ММ.ГГГГ in the reg_service kinds too (commons dateType), checked
    "snils": "054-623-673 60",
    "mobile": "+7(916)1234567",
    "gender": "F",
}


@pytest.fixture(scope="module")
def esia() -> Mapping:
    return load_mapping(ESIA_FILE)


def write(directory: Path, relative: str, text: str) -> Path:
    path = directory / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(tmp_path: Path, text: str) -> MappingLoadError:
    path = write(tmp_path, "peer/m.yaml", text)
    with pytest.raises(MappingLoadError) as err:
        load_mapping(path)
    return err.value


def errors_metric(mapping: str, field: str, direction: str) -> float:
    value = REGISTRY.get_sample_value(
        "bridge_mapping_errors_total", {"mapping": mapping, "field": field, "direction": direction}
    )
    return value or 0.0


# --- СНИЛС check digits ------------------------------------------------------------------------


@pytest.mark.parametrize("snils", ["11223344595", "05462367360"])
def test_snils_known_valid(snils: str) -> None:
    assert snils_checksum_ok(snils)
    assert snils_check_digits(snils[:9]) == snils[9:]


@pytest.mark.parametrize(
    ("first9", "check"),
    [
        ("141008407", "99"),  # s = 99: the sum itself
        ("026002389", "00"),  # s = 100
        ("030214884", "00"),  # s = 101
        ("110767574", "49"),  # s = 150: 150 mod 101
        ("543546368", "00"),  # s = 201: mod 101 gives 100 -> 00
        ("532971373", "00"),  # s = 202: mod 101 gives 0
    ],
)
def test_snils_check_digit_rules(first9: str, check: str) -> None:
    assert snils_check_digits(first9) == check
    assert snils_checksum_ok(first9 + check)


@pytest.mark.parametrize("snils", ["11223344594", "05462367361", "15462367360", "1122334459", "112233445950"])
def test_snils_invalid(snils: str) -> None:
    assert not snils_checksum_ok(snils)


def test_snils_old_numbers_not_checked() -> None:
    assert snils_checksum_ok("00100199812")
    assert snils_checksum_ok("00000000100")
    assert not snils_checksum_ok("00100199912")  # 001-001-999 is checked
    assert snils_checksum_ok("001001999" + snils_check_digits("001001999"))


@pytest.mark.parametrize("bad", ["1122334459", "11223344595", "١١٢٢٣٣٤٤٥", "12345678a", ""])
def test_snils_check_digits_needs_nine_ascii_digits(bad: str) -> None:
    with pytest.raises(ValueError) as err:
        snils_check_digits(bad)
    assert bad not in str(err.value) or bad == ""


def test_snils_checksum_rejects_non_ascii_digits() -> None:
    assert not snils_checksum_ok("١١٢٢٣٣٤٤٥٩٥")


# --- transforms -------------------------------------------------------------------------------

VALID = [
    ("snils", "05462367360", "054-623-673 60"),
    ("snils", "11223344595", "112-233-445 95"),
    ("phone_ru", "89161234567", "+7(916)1234567"),
    ("date_ru_iso", "17.08.1979", "1979-08-17"),
    ("date_ru_iso", "29.02.2000", "2000-02-29"),
    ("date_iso_ru", "1979-08-17", "17.08.1979"),
    ("date_ru", "17.08.1979", "17.08.1979"),
    ("date_ru", "29.02.2000", "29.02.2000"),
]


@pytest.mark.parametrize(("name", "mis", "upstream"), VALID)
def test_transform_round_trip(name: str, mis: str, upstream: str) -> None:
    transform = TRANSFORMS[name]
    assert transform.to_upstream(mis) == upstream
    assert transform.to_mis(upstream) == mis


INVALID = [
    ("snils", "to_upstream", "05462367361", "контрольная сумма"),
    ("snils", "to_upstream", "054-623-673 60", "11 цифр"),
    ("snils", "to_upstream", "0546236736", "11 цифр"),
    ("snils", "to_upstream", "054623673600", "11 цифр"),
    ("snils", "to_upstream", 5462367360, "not a string"),
    ("snils", "to_mis", "05462367360", "XXX-XXX-XXX YY"),
    ("snils", "to_mis", "054-623-673 61", "контрольная сумма"),
    ("snils", "to_mis", "054 623 673 60", "XXX-XXX-XXX YY"),
    ("phone_ru", "to_upstream", "79161234567", "8XXXXXXXXXX"),
    ("phone_ru", "to_upstream", "8916123456", "8XXXXXXXXXX"),
    ("phone_ru", "to_upstream", "8(916)1234567", "8XXXXXXXXXX"),
    ("phone_ru", "to_upstream", "8916123456\n", "8XXXXXXXXXX"),
    ("phone_ru", "to_mis", "+79161234567", "+7(XXX)XXXXXXX"),
    ("phone_ru", "to_mis", "+7(916)123456", "+7(XXX)XXXXXXX"),
    ("phone_ru", "to_mis", "89161234567", "+7(XXX)XXXXXXX"),
    ("date_ru_iso", "to_upstream", "31.02.2000", "такой даты"),
    ("date_ru_iso", "to_upstream", "29.02.1900", "такой даты"),
    ("date_ru_iso", "to_upstream", "00.01.2000", "такой даты"),
    ("date_ru_iso", "to_upstream", "1979-08-17", "ДД.ММ.ГГГГ"),
    ("date_ru_iso", "to_upstream", "7.8.1979", "ДД.ММ.ГГГГ"),
    ("date_ru_iso", "to_mis", "17.08.1979", "ГГГГ-ММ-ДД"),
    ("date_ru_iso", "to_mis", "1979-13-01", "такой даты"),
    ("date_ru_iso", "to_mis", "1979-08-17T00:00:00", "ГГГГ-ММ-ДД"),
    ("date_iso_ru", "to_upstream", "17.08.1979", "ГГГГ-ММ-ДД"),
    ("date_iso_ru", "to_mis", "31.04.1979", "такой даты"),
    ("date_ru", "to_upstream", "31.02.2000", "такой даты"),
    ("date_ru", "to_upstream", "29.02.1900", "такой даты"),
    ("date_ru", "to_upstream", "1979-08-17", "ДД.ММ.ГГГГ"),
    ("date_ru", "to_upstream", "7.8.1979", "ДД.ММ.ГГГГ"),
    ("date_ru", "to_upstream", 17081979, "not a string"),
    ("date_ru", "to_mis", "31.04.1979", "такой даты"),
    ("date_ru", "to_mis", "17.08.1979 00:00", "ДД.ММ.ГГГГ"),
    ("upper", "to_upstream", 42, "not a string"),
]


@pytest.mark.parametrize(("name", "direction", "value", "expected"), INVALID)
def test_transform_rejects_with_reason_without_value(
    name: str, direction: str, value: Any, expected: str
) -> None:
    convert: Callable[[Any], Any] = getattr(TRANSFORMS[name], direction)
    with pytest.raises(TransformError) as err:
        convert(value)
    assert expected in err.value.reason
    assert str(value) not in str(err.value)
    assert err.value.__cause__ is None
    assert err.value.__context__ is None or err.value.__suppress_context__


def test_text_transforms() -> None:
    assert TRANSFORMS["upper"].to_upstream("Иванова") == "ИВАНОВА"
    assert TRANSFORMS["upper"].to_mis("ИВАНОВА") == "ИВАНОВА"
    assert TRANSFORMS["strip"].to_upstream("  Иванова \t") == "Иванова"
    assert TRANSFORMS["strip"].to_upstream("   ") is None
    assert TRANSFORMS["strip"].to_mis(" x ") == " x "
    assert TRANSFORMS["digits"].to_upstream("+7 (916) 123-45-67") == "79161234567"
    assert TRANSFORMS["digits"].to_upstream(123) == "123"
    assert TRANSFORMS["digits"].to_upstream("н/д") is None
    assert TRANSFORMS["digits"].to_mis("79161234567") == "79161234567"


def test_registry_is_read_only_and_complete() -> None:
    assert set(TRANSFORMS) == {"snils", "phone_ru", "date_ru_iso", "date_iso_ru", "date_ru", "upper", "strip", "digits"}
    assert all(isinstance(t, Transform) and t.name == name for name, t in TRANSFORMS.items())
    with pytest.raises(TypeError):
        TRANSFORMS["x"] = TRANSFORMS["upper"]  # type: ignore[index]


# --- the esia.account mapping ------------------------------------------------------------------


def test_esia_round_trip(esia: Mapping) -> None:
    assert esia.name == "esia.account"
    assert esia.to_upstream(SEED_MIS) == SEED_UPSTREAM
    assert esia.to_mis(SEED_UPSTREAM) == SEED_MIS


PASSPORT_FIELDS = ["PassportSeries", "PassportNumber", "PassportIssueDate", "PassportIssuerCode", "PassportIssuedBy"]


def test_esia_fields(esia: Mapping) -> None:
    by_mis = {fm.mis: fm for fm in esia.fields}
    assert list(by_mis) == [
        "LastName",
        "FirstName",
        "MiddleName",
        "BirthDate",
        "Snils",
        "MobilePhone",
        "Gender",
        *PASSPORT_FIELDS,
    ]
    # Over СМЭВ, find_account's answer says only whether the mobile matched (matches/match: mobile);
    # it carries no names or birth date, so those cannot be compared any more (docs/esia-accounts.md).
    assert [fm.mis for fm in esia.compare_fields] == ["MobilePhone"]
    assert [fm.label for fm in esia.compare_fields] == ["Мобильный телефон"]
    snils = esia.field("Snils")
    assert (snils.label, snils.required, snils.transform, snils.upstream) == ("СНИЛС", True, "snils", "snils")
    gender = esia.field("Gender")
    assert gender.table == {"1": "M", "2": "F"}
    assert gender.transform is None and not gender.required and gender.label == "Пол"
    assert esia.field("BirthDate").transform == "date_ru"
    assert esia.field("PassportIssueDate").transform == "date_ru"
    assert esia.field("MobilePhone").transform == "phone_ru"
    assert all(by_mis[name].direction == "to_upstream" and not by_mis[name].required for name in PASSPORT_FIELDS)
    assert by_mis["LastName"].line == ESIA_FILE.read_text(encoding="utf-8").splitlines().index("  - mis: LastName") + 1
    assert len(esia.examples) >= 2


def test_esia_passport_goes_one_way(esia: Mapping) -> None:
    passport = {
        "PassportSeries": "67 10", "PassportNumber": "123456", "PassportIssueDate": "01.09.2004",
        "PassportIssuerCode": "862-010", "PassportIssuedBy": "ОВД г. Сургута",
    }
    doc = {"series": "6710", "number": "123456", "issueDate": "01.09.2004", "issueId": "862010",
           "issuedBy": "ОВД г. Сургута"}
    assert esia.to_upstream({**SEED_MIS, **passport}) == {**SEED_UPSTREAM, "doc": doc}
    assert esia.to_mis({**SEED_UPSTREAM, "doc": doc}) == SEED_MIS  # ЕСИА never returns the document
    with pytest.raises(MappingValueError) as err:
        esia.to_upstream({**SEED_MIS, **passport, "PassportIssueDate": "31.09.2004"})
    assert str(err.value) == (
        "mapping esia.account, field PassportIssueDate (to_upstream): "
        "такой даты не существует (ожидается существующая дата в формате ДД.ММ.ГГГГ)"
    )


def test_esia_examples_pass(esia: Mapping) -> None:
    results = run_examples([esia])
    assert len(results) == 2 * len(esia.examples)
    assert all(r.passed for r in results), [r.diff for r in results]


@pytest.mark.parametrize("empty", [None, ""])
def test_absent_values_are_omitted(esia: Mapping, empty: Any) -> None:
    mis = {"Snils": "05462367360", "MiddleName": empty, "Gender": empty}
    assert esia.to_upstream(mis) == {"snils": "054-623-673 60"}
    assert esia.to_mis({"snils": "054-623-673 60", "mobile": empty}) == {"Snils": "05462367360"}


@pytest.mark.parametrize("missing", [{}, {"Snils": None}, {"Snils": ""}])
def test_required_missing_to_upstream(esia: Mapping, missing: dict[str, Any]) -> None:
    with pytest.raises(MappingValueError) as err:
        esia.to_upstream({"LastName": "Иванова", **missing})
    assert err.value.field == "Snils"
    assert err.value.direction == "to_upstream"
    assert "required" in err.value.reason


def test_required_missing_to_mis(esia: Mapping) -> None:
    with pytest.raises(MappingValueError) as err:
        esia.to_mis({"lastName": "Иванова"})
    assert (err.value.field, err.value.direction) == ("Snils", "to_mis")


@pytest.mark.parametrize(
    ("field", "value", "reason"),
    [
        ("MobilePhone", "79161234567",
         "ожидается номер из 11 цифр, начинающийся с 8, без пробелов и тире (8XXXXXXXXXX)"),
        ("Snils", "05462367361", "неверная контрольная сумма СНИЛС"),
        ("BirthDate", "31.02.2000", "такой даты не существует (ожидается существующая дата в формате ДД.ММ.ГГГГ)"),
        ("Gender", "3", "значение не из справочника; допустимы: '1', '2'"),
    ],
)
def test_value_errors_name_field_and_reason_never_value(
    esia: Mapping, field: str, value: str, reason: str
) -> None:
    record = {**SEED_MIS, field: value}
    with pytest.raises(MappingValueError) as err:
        esia.to_upstream(record)
    assert str(err.value) == f"mapping esia.account, field {field} (to_upstream): {reason}"
    assert (err.value.mapping, err.value.field, err.value.reason) == ("esia.account", field, reason)
    assert err.value.__cause__ is None and err.value.__suppress_context__
    for personal in (value, *SEED_MIS.values()):
        if len(personal) > 1:
            assert personal not in str(err.value)
            assert personal not in repr(err.value)


def test_value_error_to_mis_uses_mis_field_name(esia: Mapping) -> None:
    with pytest.raises(MappingValueError) as err:
        esia.to_mis({**SEED_UPSTREAM, "mobile": "8 916 123 45 67"})
    assert str(err.value) == (
        "mapping esia.account, field MobilePhone (to_mis): ожидается телефон в виде +7(XXX)XXXXXXX"
    )
    assert "916" not in str(err.value)


def test_metrics_counter_incremented(esia: Mapping) -> None:
    before = errors_metric("esia.account", "MobilePhone", "to_upstream")
    before_other = errors_metric("esia.account", "MobilePhone", "to_mis")
    for _ in range(2):
        with pytest.raises(MappingValueError):
            esia.to_upstream({**SEED_MIS, "MobilePhone": "+79161234567"})
    assert errors_metric("esia.account", "MobilePhone", "to_upstream") == before + 2
    assert errors_metric("esia.account", "MobilePhone", "to_mis") == before_other
    esia.to_upstream(SEED_MIS)
    assert errors_metric("esia.account", "MobilePhone", "to_upstream") == before + 2


def test_table_inverted_for_to_mis(esia: Mapping) -> None:
    assert esia.to_mis({"snils": "054-623-673 60", "gender": "M"})["Gender"] == "1"
    with pytest.raises(MappingValueError) as err:
        esia.to_mis({"snils": "054-623-673 60", "gender": "1"})
    assert err.value.reason == "значение не из справочника; допустимы: 'M', 'F'"
    with pytest.raises(MappingValueError) as err:
        esia.to_upstream({"Snils": "05462367360", "Gender": 2})
    assert "expected a string" in err.value.reason


def test_source_must_be_a_mapping(esia: Mapping) -> None:
    with pytest.raises(TypeError, match="expects a mapping, not list"):
        esia.to_upstream([])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="expects a mapping, not NoneType"):
        esia.to_mis(None)  # type: ignore[arg-type]


def test_source_is_not_modified(esia: Mapping) -> None:
    record = dict(SEED_MIS)
    esia.to_upstream(record)
    assert record == SEED_MIS


# --- paths, directions -------------------------------------------------------------------------

NESTED = """\
mapping: test.nested
fields:
  - mis: Address.City
    upstream: address.city.name
    label: Город
  - mis: Address.Street
    upstream: address.street
    label: Улица
    transform: upper
  - mis: Code
    upstream: meta.code
    label: Код
    direction: to_upstream
  - mis: Stamp
    upstream: stamp
    label: Отметка
    direction: to_mis
"""


def test_nested_paths_and_directions(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, "test/nested.yaml", NESTED))
    mis = {"Address": {"City": "Москва", "Street": "Тверская"}, "Code": "X1", "Stamp": "ignored"}
    assert mapping.to_upstream(mis) == {
        "address": {"city": {"name": "Москва"}, "street": "ТВЕРСКАЯ"},
        "meta": {"code": "X1"},
    }
    upstream = {"address": {"city": {"name": "Москва"}}, "meta": {"code": "ignored"}, "stamp": "s"}
    assert mapping.to_mis(upstream) == {"Address": {"City": "Москва"}, "Stamp": "s"}
    assert mapping.to_upstream({"Address": None}) == {}
    assert mapping.to_upstream({"Address": {}}) == {}


def test_nested_source_not_an_object(tmp_path: Path) -> None:
    mapping = load_mapping(write(tmp_path, "test/nested.yaml", NESTED))
    with pytest.raises(MappingValueError) as err:
        mapping.to_upstream({"Address": "Москва, Тверская 1"})
    assert err.value.reason == "expected an object at 'Address'"
    assert "Москва" not in str(err.value)


def test_buggy_transform_does_not_leak_value(monkeypatch: pytest.MonkeyPatch) -> None:
    def buggy(value: Any) -> Any:
        raise RuntimeError(f"cannot handle {value}")

    bad = Transform("bad", buggy, buggy, "", "")
    monkeypatch.setattr(FieldMapping, "converter", lambda self: bad)
    mapping = Mapping("test.bug", [FieldMapping(mis="A", upstream="a", label="A")])
    with pytest.raises(MappingValueError) as err:
        mapping.to_upstream({"A": "secret-value"})
    assert "secret-value" not in str(err.value)
    assert err.value.reason == "transform failed (RuntimeError)"
    assert err.value.__cause__ is None and err.value.__suppress_context__


def test_field_mapping_validates_when_built_in_code() -> None:
    with pytest.raises(ValueError, match="unknown transform"):
        FieldMapping(mis="A", upstream="a", label="A", transform="nope")
    with pytest.raises(ValueError, match="not both"):
        FieldMapping(mis="A", upstream="a", label="A", transform="upper", table={"a": "b"})
    fm = FieldMapping(mis="A", upstream="a", label="A", table={"a": "b"})
    with pytest.raises(TypeError):
        fm.table["c"] = "d"  # type: ignore[index]


# --- load errors -------------------------------------------------------------------------------


def test_unknown_transform_error_points_at_file_line_field(tmp_path: Path) -> None:
    text = ESIA_FILE.read_text(encoding="utf-8").replace("transform: snils", "transform: snlis")
    path = write(tmp_path, "esia/account.yaml", text)
    line = text.splitlines().index("    transform: snlis") + 1
    with pytest.raises(MappingLoadError) as err:
        load_mapping(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}: fields[4].transform: unknown transform 'snlis' (known: ")
    assert re.search(r"\(known: date_iso_ru, date_ru, date_ru_iso, digits, phone_ru, snils, strip, upper\)", message)
    assert "did you mean 'snils'" in message
    assert (err.value.file, err.value.line, err.value.field) == (str(path), line, "fields[4].transform")


@pytest.mark.parametrize(
    ("text", "line", "field", "message"),
    [
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a
                label: A
                tranform: upper
            """,
            6,
            "fields[0].tranform",
            "unknown key 'tranform' (allowed: mis, upstream, label, compare, required, direction, "
            "transform, table); did you mean 'transform'?",
        ),
        (
            """\
            mapping: test.m
            feilds: []
            """,
            2,
            "feilds",
            "unknown key 'feilds'",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a
                label: A
            examples:
              - name: one
                mis: {A: x}
                upstream: {a: x}
                upsteam: {a: x}
            """,
            10,
            "examples[0].upsteam",
            "unknown key 'upsteam'",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a
                label: A
              - mis: B
                upstream: b
            """,
            6,
            "fields[1]",
            "'label' is required",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a
                label: A
                transform: upper
                table: {"x": "y"}
            """,
            7,
            "fields[0].table",
            "either 'transform' or 'table', not both",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: Gender
                upstream: gender
                label: Пол
                table:
                  "1": M
                  "2": F
                  "3": F
            """,
            9,
            "fields[0].table.3",
            "not one-to-one",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: Gender
                upstream: gender
                label: Пол
                table: {1: M, "2": F}
            """,
            6,
            "fields[0].table[1]",
            "must be strings",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: Gender
                upstream: gender
                label: Пол
                table: {"1": M, "2": no}
            """,
            6,
            "fields[0].table.2",
            "must be strings",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a
                label: A
              - mis: B
                upstream: a
                label: B
            """,
            7,
            "fields[1].upstream",
            "the same target path as fields[0] (line 3)",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: addr
                label: A
              - mis: B
                upstream: x
                label: B
              - mis: A.City
                upstream: y
                label: C
                direction: to_upstream
              - mis: C.D
                upstream: addr.city
                label: D
            """,
            14,
            "fields[3].upstream",
            "overlaps fields[0] (line 3): 'addr' contains 'addr.city'; in to_upstream one would",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a..b
                label: A
            """,
            4,
            "fields[0].upstream",
            "names separated by dots",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a
                label: A
                compare: "yes"
                direction: sideways
            """,
            6,
            "fields[0].compare",
            "must be true or false",
        ),
        (
            """\
            mapping: esia
            fields:
              - mis: A
                upstream: a
                label: A
            """,
            1,
            "mapping",
            "'<peer>.<name>'",
        ),
        (
            """\
            fields:
              - mis: A
                upstream: a
                label: A
            """,
            1,
            None,
            "'mapping' is required",
        ),
        (
            """\
            mapping: test.m
            fields: []
            """,
            2,
            "fields",
            "non-empty list",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a
                label: A
            examples:
              - name: one
                mis: {A: x}
                upstream:
                  a: 1979-08-17
            """,
            10,
            "examples[0].upstream.a",
            "put it in quotes",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a
                label: A
            examples:
              - name: one
                mis: {A: x}
                upstream: {a: x}
              - name: one
                mis: {A: x}
                upstream: {a: x}
            """,
            10,
            "examples[1].name",
            "duplicate example name 'one'",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: a
                label: A
                mis: B
            """,
            6,
            None,
            "duplicate key 'mis' (first defined on line 3)",
        ),
        (
            """\
            mapping: test.m
            fields:
              - mis: A
                upstream: [a
                label: A
            """,
            5,
            None,
            "",
        ),
    ],
)
def test_load_errors(tmp_path: Path, text: str, line: int, field: str | None, message: str) -> None:
    err = load_error(tmp_path, text)
    path = tmp_path / "peer" / "m.yaml"
    assert err.file == str(path)
    assert err.line == line, str(err)
    assert err.field == field, str(err)
    assert message in err.message
    prefix = f"{path}:{line}: {field}: " if field else f"{path}:{line}: "
    assert str(err).startswith(prefix)


def test_all_errors_of_a_file_are_collected(tmp_path: Path) -> None:
    write(
        tmp_path,
        "peer/m.yaml",
        """\
        mapping: test.m
        fields:
          - mis: A
            upstream: a
            label: A
            transform: nope
          - mis: B
            upstream: b
            label: B
            required: maybe
        """,
    )
    problems = check_directory(tmp_path)
    assert [(p.line, p.field) for p in problems if isinstance(p, MappingLoadError)] == [
        (6, "fields[0].transform"),
        (10, "fields[1].required"),
    ]


def test_table_with_non_scalar_value(tmp_path: Path) -> None:
    err = load_error(
        tmp_path, 'mapping: test.m\nfields:\n  - {mis: A, upstream: a, label: A, table: {"1": [M]}}\n'
    )
    assert (err.field, err.line) == ("fields[0].table.1", 3)
    assert "must be strings" in err.message


def test_typo_suggestion_prefers_same_first_letter(tmp_path: Path) -> None:
    err = load_error(tmp_path, "mapping: test.m\nfields:\n  - {mis: A, upstream: a, lable: A}\n")
    assert err.message.endswith("did you mean 'label'?")


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    assert "empty" in load_error(tmp_path, "# nothing\n").message
    assert "not a YAML mapping" in load_error(tmp_path, "- a\n- b\n").message


# --- directories -------------------------------------------------------------------------------

SIMPLE = """\
mapping: {name}
fields:
  - mis: A
    upstream: a
    label: A
examples:
  - name: {example}
    mis: {{A: x}}
    upstream: {{a: {upstream}}}
"""


def test_mapping_set_loads_recursively(tmp_path: Path) -> None:
    shutil.copy(ESIA_FILE, write(tmp_path, "esia/account.yaml", ""))
    write(tmp_path, "egisz/deep/patient.yaml", SIMPLE.format(name="egisz.patient", example="e", upstream="x"))
    write(tmp_path, ".hidden/copy.yaml", SIMPLE.format(name="esia.account", example="e", upstream="x"))
    (tmp_path / "README.txt").write_text("not a mapping")
    mappings = MappingSet.load(tmp_path)
    assert mappings.names == ["egisz.patient", "esia.account"]
    assert len(mappings) == 2 and "esia.account" in mappings
    assert mappings["esia.account"].to_upstream(SEED_MIS) == SEED_UPSTREAM
    assert {m.name for m in mappings} == {"egisz.patient", "esia.account"}
    with pytest.raises(KeyError, match=re.escape("(loaded: egisz.patient, esia.account)")):
        mappings["esia.acount"]


def test_duplicate_mapping_names(tmp_path: Path) -> None:
    write(tmp_path, "a/one.yaml", SIMPLE.format(name="test.same", example="e", upstream="x"))
    second = write(tmp_path, "b/two.yaml", SIMPLE.format(name="test.same", example="e", upstream="x"))
    with pytest.raises(MappingLoadError) as err:
        MappingSet.load(tmp_path)
    assert err.value.file == str(second)
    assert err.value.line == 1
    assert err.value.field == "mapping"
    assert "already used by" in err.value.message and "one.yaml" in err.value.message


def test_yml_and_missing_directory(tmp_path: Path) -> None:
    write(tmp_path, "a/one.yml", SIMPLE.format(name="test.one", example="e", upstream="x"))
    with pytest.raises(MappingLoadError, match=r"must end in \.yaml"):
        MappingSet.load(tmp_path)
    with pytest.raises(MappingLoadError, match="not found"):
        MappingSet.load(tmp_path / "nope")


def test_mapping_set_fails_fast_but_check_directory_collects_everything(tmp_path: Path) -> None:
    write(tmp_path, "a/bad.yaml", "mapping: test.bad\nfields: [}\n")
    write(tmp_path, "b/wrong.yaml", SIMPLE.format(name="test.wrong", example="wrong one", upstream="y"))
    write(
        tmp_path,
        "c/unknown.yaml",
        SIMPLE.format(name="test.unknown", example="e", upstream="x") + "extra: 1\n",
    )
    write(tmp_path, "d/good.yaml", SIMPLE.format(name="test.good", example="e", upstream="x"))
    with pytest.raises(MappingLoadError) as err:
        MappingSet.load(tmp_path)
    assert err.value.file.endswith("bad.yaml")
    problems = check_directory(tmp_path)
    assert [type(p).__name__ for p in problems] == [
        "MappingLoadError",
        "MappingLoadError",
        "ExampleFailure",
        "ExampleFailure",
    ]
    unknown = problems[1]
    assert isinstance(unknown, MappingLoadError)
    assert (unknown.line, unknown.field) == (10, "extra")
    failures = [p for p in problems if isinstance(p, ExampleFailure)]
    assert {(f.mapping, f.example, f.direction) for f in failures} == {
        ("test.wrong", "wrong one", "to_upstream"),
        ("test.wrong", "wrong one", "to_mis"),
    }
    assert failures[0].line == 7
    assert str(failures[0]).startswith(
        f"{tmp_path / 'b' / 'wrong.yaml'}:7: example 'wrong one' of test.wrong"
    )
    assert check_directory(tmp_path / "d") == []


# --- example runner ----------------------------------------------------------------------------


def test_example_runner_catches_wrong_example(tmp_path: Path) -> None:
    text = ESIA_FILE.read_text(encoding="utf-8").replace('birthDate: "17.08.1979"', 'birthDate: "08.17.1979"')
    write(tmp_path, "esia/account.yaml", text)
    results = run_examples(MappingSet.load(tmp_path))
    failed = [r for r in results if not r.passed]
    assert [(r.example, r.direction) for r in failed] == [
        ("seed 000 patient", "to_upstream"),
        ("seed 000 patient", "to_mis"),
    ]
    assert failed[0].diff == ("birthDate: expected '08.17.1979', got '17.08.1979'",)
    assert failed[1].diff[0].startswith("error: mapping esia.account, field BirthDate (to_mis): такой даты")
    passed = [r for r in results if r.passed]
    assert len(passed) == 2 and all(r.diff == () for r in passed)


def test_example_runner_missing_and_extra_values(tmp_path: Path) -> None:
    write(
        tmp_path,
        "t/m.yaml",
        """\
        mapping: test.m
        fields:
          - mis: A
            upstream: a
            label: A
          - mis: B
            upstream: b.c
            label: B
        examples:
          - name: ex
            mis: {A: x, B: y}
            upstream: {a: x, z: 1}
        """,
    )
    results = {r.direction: r for r in run_examples(MappingSet.load(tmp_path))}
    assert results["to_upstream"].diff == (
        "z: expected 1, but the result has no value",
        "b.c: not in the example, but the result has 'y'",
    )
    assert results["to_mis"].diff == ("B: expected 'y', but the result has no value",)


def test_example_runner_type_matters(tmp_path: Path) -> None:
    write(tmp_path, "t/m.yaml", SIMPLE.format(name="test.m", example="e", upstream="x"))
    mapping = load_mapping(tmp_path / "t" / "m.yaml")
    assert all(r.passed for r in run_examples([mapping]))
    write(tmp_path, "t/m.yaml", SIMPLE.format(name="test.m", example="e", upstream="1"))
    text = (tmp_path / "t" / "m.yaml").read_text().replace("{A: x}", "{A: '1'}")
    (tmp_path / "t" / "m.yaml").write_text(text)
    results = run_examples([load_mapping(tmp_path / "t" / "m.yaml")])
    assert results[0].diff == ("a: expected 1, got '1'",)
    write(
        tmp_path, "t/m.yaml", SIMPLE.format(name="test.m", example="e", upstream="1").replace("x}", "true}")
    )
    results = run_examples([load_mapping(tmp_path / "t" / "m.yaml")])
    assert results[0].diff == ("a: expected 1, got True",)  # True == 1 in Python, not in an example


def test_one_way_fields_are_skipped_in_the_other_direction(tmp_path: Path) -> None:
    text = NESTED + textwrap.dedent(
        """\
        examples:
          - name: both ways
            mis: {Address: {City: "Москва", Street: "ТВЕРСКАЯ"}, Code: "X1", Stamp: "s"}
            upstream: {address: {city: {name: "Москва"}, street: "ТВЕРСКАЯ"}, meta: {code: "X1"}, stamp: "s"}
        """
    )
    write(tmp_path, "test/nested.yaml", text)
    results = run_examples(MappingSet.load(tmp_path))
    assert all(r.passed for r in results), [r.diff for r in results]


# --- CLI ---------------------------------------------------------------------------------------


def test_cli_passes_on_repository_mappings() -> None:
    result = CliRunner().invoke(app, ["test", "--dir", str(ROOT / "mappings")])
    assert result.exit_code == 0, result.output
    assert "✓ esia.account · seed 000 patient · to_upstream" in result.output
    assert "✓ esia.account · seed 000 patient · to_mis" in result.output
    assert "✗" not in result.output


def test_cli_fails_on_wrong_example(tmp_path: Path) -> None:
    text = ESIA_FILE.read_text(encoding="utf-8").replace(
        'mobile: "+7(916)1234567"', 'mobile: "+7(916)7654321"'
    )
    write(tmp_path, "esia/account.yaml", text)
    result = CliRunner().invoke(app, ["test", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "✗ esia.account · seed 000 patient · to_upstream" in result.output
    assert "    mobile: expected '+7(916)7654321', got '+7(916)1234567'" in result.output
    assert "✓ esia.account · no middle name, no gender, no passport · to_mis" in result.output
    assert "2 passed, 2 failed" in result.output


def test_cli_fails_on_load_error(tmp_path: Path) -> None:
    write(tmp_path, "x/y.yaml", "mapping: x.y\n")
    result = CliRunner().invoke(app, ["test", "--dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "'fields' must be a non-empty list" in result.output
