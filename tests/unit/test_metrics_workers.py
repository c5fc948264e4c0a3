"""/metrics with several worker processes: one answer for all workers, nothing counted twice."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# A "worker": counts SOAP requests, sets its circuit state and an ordinary gauge, then ends.
WORKER = textwrap.dedent("""
    import sys
    from prometheus_client import Gauge
    from bridge.metrics import CIRCUIT_STATE, SOAP_REQUESTS
    n, state = int(sys.argv[1]), float(sys.argv[2])
    for _ in range(n):
        SOAP_REQUESTS.labels("esia-accounts", "CheckPatient", "ok").inc()
    CIRCUIT_STATE.labels("esia").set(state)
    Gauge("bench_last_run_timestamp_seconds", "test gauge, default mode", ["job"]).labels("intake").set(100 + n)
""")

# The worker that answers the scrape: it also has a collector computed at scrape time.
SCRAPE = textwrap.dedent("""
    import os, sys
    from prometheus_client import REGISTRY, Gauge
    from prometheus_client.core import GaugeMetricFamily
    from prometheus_client.registry import Collector
    from bridge.metrics import exposition, worker_exited

    class Depth(Collector):
        calls = 0
        def collect(self):
            Depth.calls += 1
            yield GaugeMetricFamily("bridge_outbox_messages_test", "from the store", value=7)

    Gauge("bench_last_run_timestamp_seconds", "test gauge, default mode", ["job"])
    REGISTRY.register(Depth())
    for pid in sys.argv[1:]:
        worker_exited(int(pid))
    Depth.calls = 0  # registering collected once, to learn the names
    text = exposition().decode()
    print(text)
    print("COLLECTOR_CALLS", Depth.calls)
""")


def _run(code: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          check=True, timeout=60)


def _env(directory: Path) -> dict[str, str]:
    return {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}


def _sample(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def test_counts_are_summed_over_workers_and_scrape_time_collectors_run_once(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _run(WORKER, "3", "0", env=env)
    _run(WORKER, "5", "2", env=env)
    text = _run(SCRAPE, env=env).stdout
    assert _sample(text, 'bridge_soap_requests_total{') == [
        'bridge_soap_requests_total{operation="CheckPatient",outcome="ok",service="esia-accounts"} 8.0']
    assert _sample(text, "bridge_outbox_messages_test ") == ["bridge_outbox_messages_test 7.0"]
    assert "COLLECTOR_CALLS 1" in text
    # a default-mode gauge: one series per label set (the largest), not one per worker pid
    assert _sample(text, "bench_last_run_timestamp_seconds{") == [
        'bench_last_run_timestamp_seconds{job="intake"} 105.0']
    assert _sample(text, "bridge_upstream_circuit_state{") == ['bridge_upstream_circuit_state{upstream="esia"} 2.0']
    assert "process_cpu_seconds_total" not in text  # one worker's process metrics would mislead


def test_a_dead_workers_circuit_state_stops_counting(tmp_path: Path) -> None:
    env = _env(tmp_path)
    _run(WORKER, "1", "0", env=env)
    _run(WORKER, "1", "2", env=env)
    dead = [p.stem.rsplit("_", 1)[1] for p in tmp_path.glob("gauge_livemax_*.db")]
    states = _run(SCRAPE, *dead, env=env).stdout
    assert _sample(states, "bridge_upstream_circuit_state{") == []
    assert _sample(states, 'bridge_soap_requests_total{') == [
        'bridge_soap_requests_total{operation="CheckPatient",outcome="ok",service="esia-accounts"} 2.0']


def test_one_process_answers_as_before() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    text = _run("from bridge.metrics import exposition; print(exposition().decode())", env=env).stdout
    assert "process_cpu_seconds_total" in text or "python_info" in text
    assert "# TYPE bridge_soap_requests_total counter" in text


# A supervisor that imported the metrics (with PROMETHEUS_MULTIPROC_DIR set first) and forks two
# workers, as `bridge serve --workers 2` does: each worker counts under its own pid, in the metrics
# objects the supervisor made (a labelled child the supervisor already made included).
FORKING_SUPERVISOR = textwrap.dedent("""
    import multiprocessing, os
    from bridge.metrics import CIRCUIT_STATE, SOAP_REQUESTS, counts_in_files, exposition
    assert counts_in_files()
    made_here = SOAP_REQUESTS.labels("esia-accounts", "CheckPatient", "ok")  # made, not counted, here

    def worker(n, state):
        for _ in range(n):
            made_here.inc()
        SOAP_REQUESTS.labels("esia-accounts", "CheckPatient", "client_fault").inc()
        CIRCUIT_STATE.labels("esia").set(state)

    fork = multiprocessing.get_context("fork")
    workers = [fork.Process(target=worker, args=(n, state)) for n, state in ((3, 0), (5, 2))]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
        assert w.exitcode == 0
    print(exposition().decode())
    print("FILES", sorted(name for name in os.listdir(os.environ["PROMETHEUS_MULTIPROC_DIR"])))
    print("PIDS", os.getpid(), *(w.pid for w in workers))
""")


def test_counts_of_workers_forked_from_one_supervisor_are_summed(tmp_path: Path) -> None:
    text = _run(FORKING_SUPERVISOR, env=_env(tmp_path)).stdout
    assert sorted(_sample(text, 'bridge_soap_requests_total{')) == [
        'bridge_soap_requests_total{operation="CheckPatient",outcome="client_fault",service="esia-accounts"} 2.0',
        'bridge_soap_requests_total{operation="CheckPatient",outcome="ok",service="esia-accounts"} 8.0']
    assert _sample(text, "bridge_upstream_circuit_state{") == ['bridge_upstream_circuit_state{upstream="esia"} 2.0']
    _supervisor, *workers = _sample(text, "PIDS ")[0].split()[1:]
    files = _sample(text, "FILES ")[0]
    assert all(f"_{pid}.db" in files for pid in workers), files  # each worker its own files


def test_metrics_imported_before_the_directory_was_set_count_only_in_memory(tmp_path: Path) -> None:
    """Why the `bridge` command sets PROMETHEUS_MULTIPROC_DIR first: set later, the metrics would not
    count in files, and workers forked from this process would count only in their own memory (the
    supervisor then spawns them instead)."""
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    code = ("import os; from bridge.metrics import counts_in_files; "
            f"os.environ['PROMETHEUS_MULTIPROC_DIR'] = {str(tmp_path)!r}; print(counts_in_files())")
    assert _run(code, env=env).stdout.strip() == "False"
