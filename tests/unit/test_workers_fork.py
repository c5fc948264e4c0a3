"""`bridge serve --workers N` forks its workers from a supervisor that has imported the bridge.

What that rests on: the ``bridge`` command sets PROMETHEUS_MULTIPROC_DIR before anything imports
prometheus_client (bridge/cli/__init__.py), and uvicorn's supervisor makes its worker processes
through one name that the bridge replaces (bridge/cli/_workers.py). The forks themselves run in a
fresh interpreter (a subprocess): the test process may have threads of other tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import uvicorn

from bridge.cli import _workers as workers
from bridge.cli import workers_asked

ROOT = Path(__file__).resolve().parents[2]


def _python(code: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("BRIDGE_", "PROMETHEUS_MULTIPROC"))}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env={**environ, **(env or {})},
                          capture_output=True, text=True, timeout=60, check=True)


@pytest.mark.parametrize(("argv", "asked"), [
    (["serve", "--workers", "4"], 4),
    (["serve", "--config", "b.yaml", "--workers=3", "--port", "8081"], 3),
    (["serve", "-c", "--workers", "--port", "8081"], 1),   # a config file named --workers
    (["serve", "--workers", "2", "--workers", "1"], 1),     # the last one counts, as in Click
    (["serve", "--workers", "many"], 1),                    # Click reports it
    (["serve"], 1),
    (["check", "--workers", "2"], 1),
    ([], 1),
])
def test_the_command_line_says_how_many_workers_before_click_reads_it(argv: list[str], asked: int) -> None:
    assert workers_asked(argv) == asked


def test_the_command_sets_the_metrics_directory_before_prometheus_client_is_imported() -> None:
    probe = """
        import json, os, sys
        import bridge.cli
        light = "prometheus_client" not in sys.modules
        sys.argv = ["bridge", *sys.argv[1:]]
        try:
            bridge.cli.main()  # --help: Click prints it and exits, after the whole CLI was imported
        except SystemExit:
            pass
        from bridge.metrics import counts_in_files
        print(json.dumps({"light": light, "files": counts_in_files(),
                          "dir": os.environ.get("PROMETHEUS_MULTIPROC_DIR")}))
    """
    with_workers = json.loads(_python(probe.replace("sys.argv[1:]", "['serve', '--workers', '2', '--help']"))
                              .stdout.splitlines()[-1])
    assert with_workers["light"], "importing bridge.cli must not import prometheus_client"
    assert with_workers["files"]
    assert with_workers["dir"] and not Path(with_workers["dir"]).exists()  # made for the run, gone at exit

    one = json.loads(_python(probe.replace("sys.argv[1:]", "['serve', '--help']")).stdout.splitlines()[-1])
    assert one == {"light": True, "files": False, "dir": None}


def test_a_given_metrics_directory_is_emptied_of_counts_and_kept(tmp_path: Path) -> None:
    (tmp_path / "counter_999999.db").write_bytes(b"an earlier run")
    (tmp_path / "notes.txt").write_text("not ours")
    _python("""
        import sys
        sys.argv = ["bridge", "serve", "--workers", "2", "--help"]
        import bridge.cli
        try:
            bridge.cli.main()
        except SystemExit:
            pass
        from bridge.metrics import counts_in_files
        assert counts_in_files()
    """, env={"PROMETHEUS_MULTIPROC_DIR": str(tmp_path)})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_uvicorn_still_makes_its_workers_through_the_name_the_supervisor_replaces() -> None:
    """If this fails, uvicorn has changed how its supervisor starts workers (uvicorn 0.54:
    ``Process.__init__`` calls ``get_subprocess`` of uvicorn.supervisors.multiprocess, a spawn
    process); bridge/cli/_workers.py's ``_forking`` must follow it, or workers are spawned again.
    In a fresh interpreter: the supervisor refuses to fork while threads run, and this test
    process has the threads of earlier tests."""
    _python("""
        from multiprocessing.context import ForkProcess, SpawnProcess

        import uvicorn
        from uvicorn import _subprocess
        from uvicorn.supervisors import multiprocess

        from bridge.cli import _workers as workers

        assert getattr(multiprocess, workers._MAKES_PROCESSES) is _subprocess.get_subprocess
        config = uvicorn.Config(app=None)
        assert isinstance(multiprocess.Process(config, []).process, SpawnProcess)
        with workers._forking({}):
            forked = multiprocess.Process(config, [])
            assert isinstance(forked.process, ForkProcess)
            assert forked.process._kwargs["target"] == forked.target
        assert getattr(multiprocess, workers._MAKES_PROCESSES) is _subprocess.get_subprocess  # put back
        assert isinstance(multiprocess.Process(config, []).process, SpawnProcess)
    """)


def test_the_supervisor_does_not_fork_while_it_has_threads() -> None:
    stop = threading.Event()
    thread = threading.Thread(target=stop.wait, name="stray", daemon=True)
    thread.start()
    try:
        with pytest.raises(RuntimeError, match="stray"):
            workers._fork_worker(uvicorn.Config(app=None), lambda sockets: None, [], handlers={})
    finally:
        stop.set()
        thread.join()


def test_a_forked_worker_runs_uvicorns_target_with_a_fresh_processs_signal_handlers(tmp_path: Path) -> None:
    out = tmp_path / "worker.json"
    _python(f"""
        import json, os, signal
        import uvicorn
        from uvicorn.supervisors import multiprocess
        from bridge.cli import _workers

        fresh = {{s: signal.getsignal(s) for s in multiprocess.SIGNALS}}
        signal.signal(signal.SIGHUP, lambda *_: None)  # the supervisor's: queue it for its loop
        signal.signal(signal.SIGTERM, lambda *_: None)

        def target(sockets):
            handlers = {{s: signal.getsignal(s) for s in multiprocess.SIGNALS}}
            with open({str(out)!r}, "w") as f:
                json.dump({{"pid": os.getpid(), "sockets": sockets, "fresh": handlers == fresh}}, f)

        process = _workers._fork_worker(uvicorn.Config(app=None), target, [], handlers=fresh)
        process.start()
        process.join(30)
        assert process.exitcode == 0, process.exitcode
    """)
    seen = json.loads(out.read_text())
    assert seen["sockets"] == [] and seen["fresh"] and seen["pid"] != os.getpid()


def test_workers_gone_from_the_supervisors_list_are_marked_dead(monkeypatch: pytest.MonkeyPatch) -> None:
    marked: list[int] = []
    monkeypatch.setattr(workers, "worker_exited", marked.append)
    supervisor: Any = SimpleNamespace(processes=[SimpleNamespace(pid=11), SimpleNamespace(pid=12)])

    def restart() -> None:  # what restart_all does to the list: a new process in each place
        supervisor.processes = [SimpleNamespace(pid=21), SimpleNamespace(pid=22)]

    workers._Supervisor._marking_gone(supervisor, restart)
    assert sorted(marked) == [11, 12]


def test_the_command_and_the_metrics_name_the_same_variable() -> None:
    from bridge import cli, metrics

    assert cli.MULTIPROC_ENV == metrics.MULTIPROC_ENV == "PROMETHEUS_MULTIPROC_DIR"
