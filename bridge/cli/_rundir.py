"""The run directory of ``bridge serve --workers``, made before anything imports prometheus_client.

Only the standard library here: ``bridge.cli.main`` calls :func:`worker_run_dir` before it imports the
rest of the bridge (bridge/cli/__init__.py says why), and the supervisor (``_workers``) reads it again.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's name (bridge.metrics.MULTIPROC_ENV)


@functools.cache
def worker_run_dir() -> Path:
    """The directory of this run of ``bridge serve --workers``: the workers' metrics files and their
    lock files. PROMETHEUS_MULTIPROC_DIR when it is set (emptied of an earlier run's counts), else a
    new directory that the variable then names, removed when this process exits. Made once."""
    given = os.environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):  # counts of an earlier run are not this run's
            stale.unlink()
        return path
    path = Path(tempfile.mkdtemp(prefix="bridge-workers-"))
    os.environ[MULTIPROC_ENV] = str(path)
    atexit.register(_remove, path, os.getpid())
    return path


def _remove(path: Path, owner: int) -> None:
    if os.getpid() == owner:  # never a forked worker (they leave by os._exit, but to be sure)
        shutil.rmtree(path, ignore_errors=True)
