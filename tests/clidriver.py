"""Run many ``bridge`` command lines, each in its own process, paying the bridge's imports once.

``python tests/clidriver.py`` reads a JSON list of cases on stdin -- ``{"id", "argv", "env", "cwd"}``
-- imports the CLI, then forks one child per case. The child takes the case's environment (the
driver's own, which the test gives without any BRIDGE_ variable, plus ``env``), its working
directory and argv, points its stdout and stderr at one file, and runs ``bridge.cli.main`` -- the
entry point of the installed ``bridge`` script. The driver prints a JSON list of
``{"id", "code", "output"}``. Forking is safe here: the driver has imported the CLI and started
no thread (it checks).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

_TIMEOUT = 45.0  # seconds per case; a case that runs longer is killed and reported as code -9


def _child(case: dict[str, Any], output: Path) -> None:
    from bridge.cli import main

    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.chdir(case["cwd"])
    os.environ.update(case.get("env", {}))
    sys.argv = ["bridge", *case["argv"]]
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:  # what main let through: printed as Python would, and a failure
        import traceback

        traceback.print_exc()
        code = 99
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _wait(pid: int) -> int:
    deadline = time.monotonic() + _TIMEOUT
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.02)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return -9


def run_cases(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import bridge.cli._main  # noqa: F401 -- every command's module, imported once before the forks

    if threading.active_count() != 1:
        raise RuntimeError(f"the driver runs threads {threading.enumerate()}; it cannot fork")
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for case in cases:
            output = Path(folder) / "output.txt"
            pid = os.fork()
            if pid == 0:
                _child(case, output)
            code = _wait(pid)
            results.append({"id": case["id"], "code": code,
                            "output": output.read_text(encoding="utf-8", errors="replace")})
    return results


if __name__ == "__main__":
    json.dump(run_cases(json.load(sys.stdin)), sys.stdout, ensure_ascii=False)
