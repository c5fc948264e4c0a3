"""152-ФЗ over the whole suite: no planted personal value (or secret) in any bridge.log / sandbox.log of this
pytest session (tests/pii_scan.py says what is planted and in which formats).

ORDER MATTERS: this module is named test_zz_* so that pytest collects it after every other module of
tests/integration. ``pytest`` (testpaths = tests) runs tests/integration, then tests/interop, tests/signing
and tests/unit, so this test scans the logs of every integration test; bridges started by later directories
(tests/interop) are not covered here — the session-finish hook (``tests.pii_scan.session_report``, to be
called from tests/conftest.py) covers everything. No reordering plugin is installed; with one (e.g.
pytest-randomly), pass ``-p no:randomly``. Run alone, it finds no logs and is skipped.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.pii_scan import Planted, planted_values, report, scan_logs, scan_text, session_logs


def test_no_planted_personal_data_in_any_log_of_this_session(tmp_path_factory: pytest.TempPathFactory) -> None:
    logs = session_logs(tmp_path_factory.getbasetemp())
    if not logs:
        pytest.skip("no bridge or sandbox ran earlier in this session: run it after the suite (it sorts last)")
    leaks = scan_logs(logs)
    assert leaks == [], report(leaks)


def test_the_planted_values_cover_every_source_and_format() -> None:
    planted = planted_values()
    sources = {p.source.split(" ")[0] for p in planted}
    assert {"tests/conftest.py", "tests/integration/test_pii_logs.py", "adapters/esia/sandbox/_people.py",
            "adapters/hubservice/sandbox/_data.py"} <= sources   # test_tmk_dialog's family is the ЕСИА sandbox's
    values = {p.value for p in planted}
    assert {"+7(913)2456718", "89132456718", "79132456718", "9132456718"} <= values   # one phone, every form
    assert {"14.03.1988", "1988-03-14"} <= values
    assert "sandbox-webhook-secret" in values


@pytest.mark.parametrize("line", [
    '{"event": "x", "snils": "137-482-915 %s"}',
    '{"event": "x", "phone": "+7 (913) 245-67-18"}',
    '{"event": "x", "phone": "8913245671"}',
    "Смирнова Анна пришла",
    '{"birth": "1988-03-14"}',
    "secret=sandbox-webhook-secret",
])
def test_the_scan_finds_a_planted_value_in_any_format(tmp_path: Path, line: str) -> None:
    from adapters.esia.sandbox._people import PEOPLE

    snils = "".join(ch for ch in PEOPLE[0].snils if ch.isdigit())
    text = line.replace("137-482-915 %s", f"{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}")
    text = text.replace("8913245671", "89132456718")
    leaks = scan_text("first line\n" + text + "\n", tmp_path / "planted.log")
    assert leaks, text
    assert all(leak.line == 2 for leak in leaks)
    assert "137" not in report(leaks) and "2456718" not in report(leaks)   # the report never shows the value


def test_the_scan_finds_random_snils_and_phone_shapes_and_leaves_clean_logs_alone(tmp_path: Path) -> None:
    from tests.conftest import make_snils

    snils = make_snils()
    shaped = f'{{"a": "{snils[:3]}-{snils[3:6]}-{snils[6:9]} {snils[9:]}", "b": "+7(999)1234567"}}'
    assert {leak.kind for leak in scan_text(shaped, tmp_path / "x.log", [])} == {"snils", "phone"}
    clean = ('{"event": "soap.request", "service": "esia-accounts", "operation": "CheckPatient", '
             '"request_id": "5f0c1d2e-aaaa-4bbb-8ccc-123456789012", "elapsed_ms": 12.5, "snils": "***-***-*** **"}')
    assert scan_text(clean, tmp_path / "x.log", [Planted("Смирнова", "name", "t")]) == []
