"""152-ФЗ over the whole suite: no planted personal value (or secret) in any bridge.log / sandbox.log of this
pytest session (tests/pii_scan.py says what is planted and in which formats).

The scan of the session's logs is marked ``session_last``: tests/conftest.py moves it after every other
test of the session, whatever the order of collection or of a reordering plugin. ``make test`` runs the suite
in two processes (pytest-xdist), where no test is "last": it runs this scan afterwards, on its own, over the
logs the parallel run left (``BRIDGE_TEST_LOGS`` = that run's ``--basetemp``), so it reads the logs of every
bridge and sandbox the suite started (tests/integration, tests/interop, …).
Run alone, it finds no logs and is skipped. The other tests here check the scan itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bridgeproc import ROOT
from tests.pii_scan import Planted, planted_values, report, scan_logs, scan_text, session_logs

SCAN = "tests/integration/test_pii_suite.py::test_no_planted_personal_data_in_any_log_of_this_session"


@pytest.mark.session_last
def test_no_planted_personal_data_in_any_log_of_this_session(tmp_path_factory: pytest.TempPathFactory) -> None:
    # `make test` runs the suite in two processes first, then this alone over what they left: BRIDGE_TEST_LOGS
    # names that run's --basetemp. Otherwise it reads this session's own.
    named = os.environ.get("BRIDGE_TEST_LOGS")
    logs = session_logs(Path(named) if named else tmp_path_factory.getbasetemp())
    if named and not logs:
        pytest.fail(f"BRIDGE_TEST_LOGS={named}: no bridge.log or sandbox.log there: the run it names left none")
    if not logs:
        pytest.skip("no bridge or sandbox ran earlier in this session: it scans the logs of the tests run with it")
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
    from adapters.esia.sandbox import PEOPLE

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


# A plugin that reverses the order of collection, as a reordering plugin (pytest-randomly) might.
REVERSING_PLUGIN = """
import pytest

@pytest.hookimpl
def pytest_collection_modifyitems(items):
    items.reverse()
"""


@pytest.mark.parametrize("reorder", [False, True])
def test_the_session_scan_runs_last_whatever_the_collection_order(tmp_path: Path, reorder: bool) -> None:
    (tmp_path / "reversing_plugin.py").write_text(REVERSING_PLUGIN, encoding="utf-8")
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
               "tests/integration/test_pii_suite.py", "tests/unit/test_house.py"]
    if reorder:
        command[3:3] = ["-p", "reversing_plugin"]
    collected = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120,
                               env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"})
    ids = [line for line in collected.stdout.splitlines() if "::" in line]
    assert len(ids) > 10, collected.stdout + collected.stderr
    assert ids[-1] == SCAN and ids.count(SCAN) == 1
    assert (ids[0].startswith("tests/unit/")) is reorder   # the plugin did reorder; the scan stayed last
