"""A new user's mistakes, every ``bridge`` command: a few lines naming the setting, never a traceback.

The corpus: each command that reads the configuration × a missing config file, malformed YAML, an
unknown setting, contradictory settings, an unparsable store URL; the commands that open the store
× a store that does not answer; the commands that need upstreams × none configured; the servers ×
a busy port; and bad flag values per command. Each case runs as its own process through the
``bridge`` script's entry point (tests/clidriver.py) and must exit non-zero, with no "Traceback"
in its output, naming the setting (or flag, or file) it is about.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.bridgeproc import ROOT, free_port


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    names: tuple[str, ...]          # what the message must name: a setting, a flag, a file
    env: dict[str, str] = field(default_factory=dict)
    code: int | None = None         # the exact exit code, when the case fixes it (else: non-zero)
    hidden: tuple[str, ...] = ()    # what the output must not show (a password)


# Every command that reads the configuration (a message id where one is needed).
CONFIGURED = [
    ["serve"], ["serve", "--sandbox"], ["sandbox"], ["check"], ["demo"], ["audit"], ["db", "upgrade"],
    ["wsdl", "diff"], ["wsdl", "freeze"], ["wsdl", "lint"], ["jobs", "list"], ["jobs", "run", "egisz.intake"],
    ["outbox", "list"], ["outbox", "show", "m-1"], ["outbox", "replay", "m-1"], ["outbox", "drop", "m-1"],
    ["outbox", "stats"], ["outbox", "purge"], ["smev", "list"], ["smev", "show", "m-1"], ["smev", "stats"],
]
# The commands that open the store.
STORED = [["serve", "--sandbox"], ["audit"], ["db", "upgrade"], ["jobs", "list"], ["jobs", "run", "egisz.intake"],
          ["outbox", "list"], ["outbox", "show", "m-1"], ["outbox", "replay", "m-1"], ["outbox", "drop", "m-1"],
          ["outbox", "stats"], ["outbox", "purge"], ["smev", "list"], ["smev", "show", "m-1"], ["smev", "stats"],
          ["check"]]
# The commands that build the adapters' clients, so need their upstreams.
UPSTREAMED = [["serve"], ["jobs", "list"], ["jobs", "run", "egisz.intake"], ["check"]]

FILES = {
    "malformed.yaml": "port: [8080,\nhost: 127.0.0.1\n",
    "unknown.yaml": "port: 8080\ndatabse_url: sqlite:///var/bridge.db\n",
    "incomplete.yaml": "clients:\n  - name: regional-mis\n    username: mis\n",
    "contradictory.yaml": "test_clock_file: var/clock\nupstreams:\n  esia:\n    base_url: https://esia.example.ru\n",
    "absent-password.yaml": "clients:\n  - name: regional-mis\n    username: mis\n    password_file: absent.pw\n",
    "store.yaml": "database_url: postgresql://u:store-password@127.0.0.1:{closed}/bridge\n",
    "out-of-range.yaml": "host: 127.0.0.1\nport: 99999\n",
}


def _corpus(tmp: Path, busy: int, closed: int) -> list[Case]:
    cases: list[Case] = []
    for argv in CONFIGURED:
        name = "-".join(argv)
        cases += [
            Case(f"{name}:missing-config", [*argv, "--config", str(tmp / "absent.yaml")], ("absent.yaml", "--config"),
                 code=2),
            Case(f"{name}:malformed-yaml", [*argv, "--config", str(tmp / "malformed.yaml")], ("malformed.yaml:",),
                 code=2),
            Case(f"{name}:unknown-setting", [*argv, "-c", str(tmp / "unknown.yaml")],
                 ("unknown.yaml:2", "databse_url", "did you mean database_url?"), code=2),
            Case(f"{name}:incomplete-client", [*argv, "-c", str(tmp / "incomplete.yaml")],
                 ("clients.0", "password_file"), code=2),
            Case(f"{name}:unparsable-store-url", argv, ("database_url", "BRIDGE_DATABASE_URL"),
                 env={"BRIDGE_DATABASE_URL": "notaurl"}, code=2),
            Case(f"{name}:bad-env-value", argv, ("BRIDGE_LOG_LEVEL", "log_level"), env={"BRIDGE_LOG_LEVEL": "LOUD"},
                 code=2),
        ]
    cases += [Case(f"{'-'.join(argv)}:contradictory", [*argv, "-c", str(tmp / "contradictory.yaml")],
                   ("test_clock_file",), code=2) for argv in (["serve"], ["check"], ["jobs", "list"])]
    cases += [Case(f"{'-'.join(argv)}:absent-secret-file", argv, ("BRIDGE_PSEUDONYM_KEY_FILE", "pseudonym_key_file"),
                   env={"BRIDGE_PSEUDONYM_KEY_FILE": str(tmp / "absent.key")}, code=2)
              for argv in (["serve", "--sandbox"], ["check"], ["jobs", "list"])]
    cases += [Case("serve:absent-password-file", ["serve", "-c", str(tmp / "absent-password.yaml")],
                   ("absent-password.yaml:4", "clients.0.password_file"), code=2)]
    cases += [Case("serve:out-of-range-in-file", ["serve", "-c", str(tmp / "out-of-range.yaml")],
                   ("out-of-range.yaml:2", "port"), code=2)]
    unreachable = {"BRIDGE_DATABASE_URL": f"postgresql://bridge@127.0.0.1:{closed}/bridge", "BRIDGE_SANDBOX": "true",
                   "BRIDGE_PORT": str(free_port())}
    cases += [Case(f"{'-'.join(argv)}:store-not-answering", argv, ("database_url",), env=unreachable, code=1)
              for argv in STORED]
    cases += [Case(f"{'-'.join(argv)}:store-with-password-not-answering", [*argv, "-c", str(tmp / "store.yaml")],
                   ("database_url", "u:***@127.0.0.1"), env={"BRIDGE_SANDBOX": "true"}, code=1,
                   hidden=("store-password",)) for argv in (["audit"], ["db", "upgrade"], ["outbox", "stats"])]
    cases += [Case(f"{'-'.join(argv)}:no-upstreams", argv,
                   ("upstreams.egisz.base_url", "BRIDGE_UPSTREAMS__EGISZ__BASE_URL")) for argv in UPSTREAMED]
    cases += [
        Case("serve:busy-port", ["serve", "--sandbox", "--port", str(busy)], ("port", "--port"), code=1),
        Case("serve-workers:busy-port", ["serve", "--workers", "2", "--port", str(busy)], ("port", "--port"), code=1,
             env={"BRIDGE_UPSTREAMS__ESIA__BASE_URL": "http://127.0.0.1:9"}),
        Case("serve:busy-sandbox-port", ["serve", "--sandbox", "--port", str(free_port())], ("sandbox_base_port",),
             env={"BRIDGE_SANDBOX_BASE_PORT": str(busy)}, code=1),
        Case("sandbox:busy-port", ["sandbox"], ("sandbox_base_port",), env={"BRIDGE_SANDBOX_BASE_PORT": str(busy)},
             code=1),
    ]
    sandboxed = {"BRIDGE_SANDBOX": "true"}
    flags: list[tuple[list[str], tuple[str, ...], dict[str, str]]] = [
        (["serve", "--port", "99999"], ("--port",), {}),
        (["serve", "--port", "abc"], ("--port",), {}),
        (["serve", "--workers", "0"], ("--workers",), {}),
        (["serve", "--workers", "2", "--sandbox"], ("--workers",), {}),
        (["serve", "--bogus"], ("--bogus",), {}),
        (["check", "--sandbox"], ("--sandbox",), {}),
        (["sandbox", "--write-config", str(tmp / "absent" / "bridge.yaml")], ("--write-config",), {}),
        (["demo", "--url", f"http://127.0.0.1:{closed}"], ("--url",), {}),
        (["audit", "--since", "yesterday"], ("--since",), {}),
        (["audit", "--limit", "0"], ("--limit",), {}),
        (["db", "upgrade", "--config"], ("--config",), {}),
        (["wsdl", "diff", "--bogus"], ("--bogus",), {}),
        (["jobs", "run", "no-such-job"], ("no-such-job",), sandboxed),
        (["jobs", "run", "egisz.intake", "--from", "31.02.2026"], ("--from",), sandboxed),
        (["jobs", "run"], ("'name'",), {}),
        (["outbox", "list", "--state", "bogus"], ("--state",), {}),
        (["outbox", "list", "--limit", "many"], ("--limit",), {}),
        (["outbox", "purge", "--days", "-1"], ("--days",), {}),
        (["outbox", "show"], ("'message_id'",), {}),
        (["outbox", "replay"], ("--all",), {}),
        (["outbox", "replay", "--all", "--state", "bogus"], ("--state",), {}),
        (["outbox", "drop"], ("'message_id'",), {}),
        (["outbox", "stats", "--bogus"], ("--bogus",), {}),
        (["wsdl", "freeze", "--bogus"], ("--bogus",), {}),
        (["wsdl", "lint", str(tmp / "absent.wsdl")], ("absent.wsdl",), {}),
        (["smev", "list", "--state", "bogus"], ("--state",), {}),
        (["smev", "list", "--limit", "0"], ("--limit",), {}),
        (["smev", "show"], ("'key'",), {}),
        (["smev", "stats", "--bogus"], ("--bogus",), {}),
        (["keys", "show", str(tmp / "absent.pem")], ("absent.pem",), {}),
        (["keys", "hash", str(tmp / "malformed.yaml")], ("malformed.yaml", "X.509"), {}),
        (["keys", "generate", "--out-key", "k.pem"], ("--out-cert",), {}),
        (["keys", "generate", "--out-key", "k.pem", "--out-cert", "c.pem", "--days", "x"], ("--days",), {}),
        (["keys", "hash", str(tmp / "absent.pem")], ("absent.pem",), {}),
        (["mappings", "test", "--dir", str(tmp / "absent")], ("--dir",), {}),
        (["no-such-command"], ("no-such-command",), {}),
    ]
    def label(argv: list[str]) -> str:   # the same id whatever the temporary directory and ports
        words = [word.replace(str(tmp), "TMP").replace(f":{closed}", ":CLOSED") for word in argv]
        return "flag:" + " ".join(words)

    cases += [Case(label(argv), argv, names, env=env) for argv, names, env in flags]
    return cases


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Case, dict[str, Any]]]]:
    tmp = tmp_path_factory.mktemp("cli-mistakes")
    with socket.socket() as held, socket.socket() as closed:
        held.bind(("127.0.0.1", 0))
        held.listen()
        closed.bind(("127.0.0.1", 0))   # bound, never listening: a connection is refused at once
        for name, text in FILES.items():
            (tmp / name).write_text(text.replace("{closed}", str(closed.getsockname()[1])), encoding="utf-8")
        cases = _corpus(tmp, held.getsockname()[1], closed.getsockname()[1])
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
        payload = [{"id": c.id, "argv": c.argv, "env": c.env, "cwd": str(tmp)} for c in cases]
        done = subprocess.run([sys.executable, str(ROOT / "tests" / "clidriver.py")], input=json.dumps(payload),
                              capture_output=True, text=True, cwd=ROOT, env=env, timeout=900, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    results = {r["id"]: r for r in json.loads(done.stdout)}
    yield {case.id: (case, results[case.id]) for case in cases}


def _ids() -> list[str]:
    return [case.id for case in _corpus(Path("/nowhere"), 1, 2)]


@pytest.mark.parametrize("case_id", _ids())
def test_a_mistake_is_named_in_a_few_lines_without_a_traceback(
    outcomes: dict[str, tuple[Case, dict[str, Any]]], case_id: str
) -> None:
    case, result = outcomes[case_id]
    output, code = result["output"], result["code"]
    assert code != 0, output
    assert code not in (-9, 70, 99), f"killed, or an internal error: {output[-2000:]}"
    if case.code is not None:
        assert code == case.code, output
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if line.strip() and not line.startswith("{")]  # JSON: logs
    assert lines, output
    for name in case.names:
        assert name in output, f"{name!r} not named in:\n{output}"
    for secret in case.hidden:
        assert secret not in output, output
    assert len(lines) <= 12, output


def test_an_internal_error_says_it_is_a_bug_and_where_the_traceback_is(capfd: pytest.CaptureFixture[str]) -> None:
    """Our own bug (here a command that divides by zero) keeps its traceback, with a line that says
    it is a bug and names the file the traceback was written to."""
    import re

    import typer

    from bridge.cli._errors import EXIT_BUG, run

    app = typer.Typer()

    @app.command()
    def broken() -> None:
        raise ZeroDivisionError("a bug of ours")

    assert run(app, []) == EXIT_BUG
    err = capfd.readouterr().err
    assert "Traceback" in err and "ZeroDivisionError" in err, err
    found = re.search(r"a bug in the bridge.*written to (\S+) ", err)
    assert found, err
    written = Path(found.group(1))
    assert "ZeroDivisionError: a bug of ours" in written.read_text(encoding="utf-8")
    written.unlink()


def test_the_corpus_covers_every_command() -> None:
    """A new command (or sub-command) must bring its mistakes into the corpus."""
    import typer

    from bridge.cli._main import app

    def leaves(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
        children = getattr(command, "commands", {})
        if not children:
            return [path]
        return [leaf for name, sub in children.items() for leaf in leaves(sub, (*path, name))]

    covered = {tuple(case.argv[:2]) for case in _corpus(Path("/nowhere"), 1, 2)} | {
        tuple(case.argv[:1]) for case in _corpus(Path("/nowhere"), 1, 2)}
    missing = [" ".join(leaf) for leaf in leaves(typer.main.get_command(app)) if leaf not in covered]
    assert not missing, f"commands without a case in the corpus: {missing}"
