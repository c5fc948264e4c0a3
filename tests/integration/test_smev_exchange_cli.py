"""``bridge smev list|show|stats``: the exchange journal for ops, read from the store, never its contents.

Each command runs as the installed ``bridge`` script in its own process against a SQLite store holding
exchanges in every state the journal knows (written through ``bridge.smev.Journal``).
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from bridge.smev import Journal, new_message_id
from bridge.store import Sealer, Store

KIND = "urn://mincomsvyaz/esia/reg_service/find_account/1.4.1"
SECRET_TEXT = "112-233-445 95"


def _bridge(db: str, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env["BRIDGE_DATABASE_URL"] = db
    return subprocess.run([sys.executable, "-m", "bridge", "smev", *argv], capture_output=True, text=True,
                          timeout=120, env=env, check=False)


@pytest.fixture(scope="module")
def journal(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, str]]:
    db = f"sqlite:///{tmp_path_factory.mktemp('smev-cli') / 'bridge.db'}"
    store = Store(db)
    store.upgrade()
    sealer = Sealer(b"c" * 32, "smev:cli")
    journal = Journal(store)
    now = datetime.now(UTC)
    ids: dict[str, str] = {}
    for name in ("sent", "dead", "answered"):
        message_id = new_message_id(now)
        record, created = journal.open(kind=KIND, business_key=f"esia.find:{name}", message_id=message_id,
                                       request=sealer.seal({"content": SECRET_TEXT}), now=now - timedelta(minutes=20),
                                       wait_until=now, keep=timedelta(hours=1))
        assert created
        ids[name] = message_id
        assert journal.claim(record.id, now, timedelta(seconds=30)) is not None
        if name == "dead":
            journal.dead(record.id, now, "SenderIsNotRegistered")
            continue
        journal.sent(record.id, now - timedelta(minutes=19), "requestIsQueued")
        if name == "answered":
            answer_id = new_message_id(now)
            stored = journal.store(message_id=answer_id, original_message_id=message_id, kind=KIND, now=now,
                                   answer=sealer.seal({"content": SECRET_TEXT}), status=None, final=True)
            assert stored.outcome == "answer"
            journal.acknowledged(answer_id, now)
            ids["answer"] = answer_id
    store.dispose()
    return db, ids


def test_stats_counts_states_and_the_oldest_unanswered(journal: tuple[str, dict[str, str]]) -> None:
    db, _ = journal
    done = _bridge(db, "stats")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "sent:          1" in lines and "dead:          1" in lines and "acknowledged:  1" in lines
    assert "answered:      0" in lines and "unacknowledged: 0" in lines
    age = next(line for line in lines if line.startswith("oldest unanswered:"))
    assert 19 * 60 <= int(age.split(":")[1].strip().removesuffix(" s")) < 60 * 60
    assert f"unanswered {KIND}: 1" in lines


def test_list_by_state_and_show_by_either_message_id(journal: tuple[str, dict[str, str]]) -> None:
    db, ids = journal
    dead = _bridge(db, "list", "--state", "dead")
    assert dead.returncode == 0, dead.stderr
    assert ids["dead"] in dead.stdout and "SenderIsNotRegistered" in dead.stdout and ids["sent"] not in dead.stdout
    assert dead.stdout.rstrip().endswith("1 request(s)")
    everything = _bridge(db, "list")
    assert all(ids[name] in everything.stdout for name in ("sent", "dead", "answered"))
    for key in (ids["answered"], ids["answer"]):
        shown = _bridge(db, "show", key)
        assert shown.returncode == 0, shown.stderr
        fields = dict(line.split(":", 1) for line in shown.stdout.splitlines())
        assert fields["state"].strip() == "acknowledged" and fields["message_id"].strip() == ids["answered"]
        assert fields["answer_message_id"].strip() == ids["answer"]
        assert SECRET_TEXT not in shown.stdout  # the contents stay sealed


def test_mistakes_are_said_plainly(journal: tuple[str, dict[str, str]]) -> None:
    db, _ = journal
    bogus = _bridge(db, "list", "--state", "bogus")
    assert bogus.returncode == 2
    assert "--state must be one of sending, sent, answered, acknowledged, dead" in bogus.stderr
    missing = _bridge(db, "show", "00000000-0000-1000-8000-000000000000")
    assert missing.returncode == 1 and "no СМЭВ exchange 00000000-0000-1000-8000-000000000000" in missing.stderr
    assert "Traceback" not in bogus.stderr + missing.stderr
