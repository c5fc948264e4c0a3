"""The sandbox ЕГИСЗ's own store: tasks, the replies applied to them, and who is served.

sqlite (":memory:" by default, or a file), one connection behind a lock, so it is safe from the
threads of a test server. Tasks come from two places that page as one sequence:

- rows of ``task``: tasks put one by one, and small generated batches;
- lazy batches (``batch`` with ``lazy = 1``): big generated batches, served from the generator
  (``_generator.Batch``) without a row per task.

A reply never rewrites a task's body: the status, the last accepted reply and the "cancellation
failed, answer again" mark live in ``task_state`` and are laid over the body when it is read, for
rows and lazy tasks alike. ``reply`` is the log of applied replies and the Idempotency-Key store.
``upload`` plays SAMSON's ``soc_AttachMO_Task`` reply columns: the last reply written for a task,
``need_upload`` until it is applied, ``error_upload`` when it was refused (Registry/AttachOnlineService.py
in LenchikTs/client): ``{"attach_id": id}`` uploads it again, ``{"attach_id": 0}`` uploads them all.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from adapters.egisz.sandbox._generator import MO_OID, MSK, Batch, BatchSpec, split_task_id
from adapters.egisz.sandbox._paging import Query, batch_keys
from adapters.egisz.sandbox._rules import OUTCOME_STATUS, ReplyMalformed, ReplyRefused, check_reply

__all__ = ["EgiszRegistry", "IdempotencyConflict", "TaskNotFound"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS task (
    id TEXT PRIMARY KEY, mo_oid TEXT NOT NULL, update_ts INTEGER NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS task_page ON task (mo_oid, update_ts, id);
CREATE TABLE IF NOT EXISTS batch (prefix TEXT PRIMARY KEY, spec TEXT NOT NULL, lazy INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS task_state (
    task_id TEXT PRIMARY KEY, status TEXT NOT NULL, result TEXT, reopened INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS reply (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE, task_id TEXT NOT NULL,
    idempotency_key TEXT UNIQUE, fingerprint TEXT NOT NULL, outcome TEXT NOT NULL, status TEXT NOT NULL,
    applied_at TEXT NOT NULL, answer TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS reply_task ON reply (task_id);
CREATE TABLE IF NOT EXISTS served_mo (oid TEXT PRIMARY KEY);
CREATE TABLE IF NOT EXISTS upload (
    task_id TEXT PRIMARY KEY, body TEXT NOT NULL, need_upload INTEGER NOT NULL, upload_date TEXT,
    error_upload TEXT
);
"""
# What the choice's result becomes when its cancellation is executed: SAMSON's own refusal, code 1
# (LenchikTs/client, Registry/AttachOnlineService.py, applyStatement).
WITHDRAWN = {"status": "rejected", "reasonReject_id": 1,
             "statusComment": "Невозможно выполнить заявление на прикрепление, так как гражданин отозвал "
                              "свое заявление"}
_DEFAULT_REJECT = ("UPSTREAM_REJECTED", "Ответ отклонён сервисом «Прикрепление онлайн»")


class TaskNotFound(Exception):
    pass


class IdempotencyConflict(Exception):
    def body(self) -> dict[str, str]:
        return {"detail": "Idempotency-Key reused with another reply", "code": "IDEMPOTENCY_CONFLICT"}


class EgiszRegistry:
    """The sandbox's store. ``mos``: the MOs served from the start (``generate`` adds its own)."""

    def __init__(
        self,
        path: str = ":memory:",
        mos: Iterable[str] = (),
        materialize_limit: int = 2000,
        require_idempotency_key: bool = False,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(_SCHEMA)
        self._lock = threading.RLock()
        self._configured_mos = tuple(mos)
        self.materialize_limit = materialize_limit
        self.require_idempotency_key = require_idempotency_key
        self._clock = clock
        self._reject_count, self._reject = 0, _DEFAULT_REJECT
        self._batches: dict[str, Batch] = {
            prefix: Batch(BatchSpec.from_json(spec))
            for prefix, spec in self._db.execute("SELECT prefix, spec FROM batch WHERE lazy = 1")
        }
        self.serve(self._configured_mos)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    # --- MOs ------------------------------------------------------------------------------------

    def serve(self, mos: Iterable[str]) -> None:
        mos = list(mos)
        if not all(MO_OID.match(mo) for mo in mos):
            raise ValueError("an MO OID is 1.2.643.5.1.13.13.12.2.<region>.<n>")
        with self._lock:
            self._db.executemany("INSERT OR IGNORE INTO served_mo (oid) VALUES (?)", ((mo,) for mo in mos))

    def serves(self, mo: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM served_mo WHERE oid = ?", (mo,)).fetchone() is not None

    def served_mos(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT oid FROM served_mo ORDER BY oid")]

    # --- tasks ----------------------------------------------------------------------------------

    def generate(self, spec: BatchSpec) -> dict[str, Any]:
        """Create the spec's tasks (rows up to ``materialize_limit``, else a lazy batch); the same spec twice
        creates nothing the second time."""
        batch = Batch(spec)
        with self._transaction():
            known = self._db.execute("SELECT lazy FROM batch WHERE prefix = ?", (batch.prefix,)).fetchone()
            lazy = bool(known[0]) if known else spec.count > self.materialize_limit
            if known is None:
                self._db.execute("INSERT INTO batch (prefix, spec, lazy) VALUES (?, ?, ?)",
                                 (batch.prefix, spec.to_json(), int(lazy)))
                if lazy:
                    self._batches[batch.prefix] = batch
                else:
                    self._db.executemany(
                        "INSERT OR IGNORE INTO task (id, mo_oid, update_ts, body) VALUES (?, ?, ?, ?)",
                        ((batch.task_id(i), batch.mo(i), batch.ts(i), json.dumps(batch.task(i), ensure_ascii=False))
                         for i in range(spec.count)))
            self.serve(spec.mos)
        return {"batch": batch.prefix, "count": spec.count, "lazy": lazy, "created": known is None,
                "first_task_id": batch.task_id(0)}

    def put_task(self, task: dict[str, Any]) -> None:
        """Put one task as given (a fixture; a second put of the same id is a patient-side change)."""
        mo, moment = task.get("mo_oid"), task.get("update_date")
        if not isinstance(task.get("id"), str) or not task["id"]:
            raise ValueError("a task needs an id")
        if not isinstance(mo, str) or not MO_OID.match(mo):
            raise ValueError("a task needs an mo_oid")
        if task.get("order_type") not in (1, 2, 3):
            raise ValueError("order_type must be 1, 2 or 3")
        try:
            update_ts = datetime.fromisoformat(str(moment)).timestamp()
        except ValueError:
            raise ValueError("update_date must be an ISO 8601 date-time with a UTC offset") from None
        if datetime.fromisoformat(str(moment)).tzinfo is None or update_ts != int(update_ts):
            raise ValueError("update_date must carry a UTC offset and whole seconds")
        body = {"status": "in-progress", "related_task_id": None, "result": None, **task}
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO task (id, mo_oid, update_ts, body) VALUES (?, ?, ?, ?)",
                             (task["id"], mo, int(update_ts), json.dumps(body, ensure_ascii=False)))
            self.serve([mo])

    def task(self, task_id: str) -> dict[str, Any] | None:
        with self._lock:
            base = self._base(task_id)
            return None if base is None else self._overlay([base])[0]

    def _base(self, task_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT body FROM task WHERE id = ?", (task_id,)).fetchone()
        if row is not None:
            body: dict[str, Any] = json.loads(row[0])
            return body
        parts = split_task_id(task_id)
        batch = self._batches.get(parts[0]) if parts else None
        index = batch.index_of(task_id) if batch else None
        return None if batch is None or index is None else batch.task(index)

    def _overlay(self, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = [task["id"] for task in tasks]
        states = {
            row[0]: row[1:]
            for chunk in (ids[i:i + 500] for i in range(0, len(ids), 500))
            for row in self._db.execute(
                f"SELECT task_id, status, result FROM task_state WHERE task_id IN ({','.join('?' * len(chunk))})",
                chunk)
        }
        for task in tasks:
            state = states.get(task["id"])
            if state is not None:
                task["status"], task["result"] = state[0], json.loads(state[1]) if state[1] else None
        return tasks

    def page(self, query: Query) -> tuple[list[dict[str, Any]], str | None]:
        """One page of the query's tasks in (update_date, id) order, and the cursor of the next (None at the end)."""
        after = max(query.after or (query.start, ""), (query.start, ""))
        with self._lock:
            rows = self._db.execute(
                "SELECT update_ts, id, body FROM task WHERE mo_oid = ? AND update_ts < ? AND (update_ts, id) > (?, ?)"
                " ORDER BY update_ts, id LIMIT ?", (query.mo, query.end, *after, query.limit + 1)).fetchall()
            sources: list[Iterator[tuple[int, str, Any]]] = [iter(rows)]
            sources += [batch_keys(batch, query) for batch in self._batches.values()]
            keys = list(itertools.islice(heapq.merge(*sources, key=lambda key: (key[0], key[1])), query.limit + 1))
            page = keys[:query.limit]
            tasks = [json.loads(ref) if isinstance(ref, str) else self._batch_task(task_id, ref)
                     for _ts, task_id, ref in page]
            tasks = self._overlay(tasks)
        next_cursor = query.cursor((page[-1][0], page[-1][1])) if len(keys) > query.limit else None
        return tasks, next_cursor

    def _batch_task(self, task_id: str, index: int) -> dict[str, Any]:
        parts = split_task_id(task_id)
        assert parts is not None
        return self._batches[parts[0]].task(index)

    def count_tasks(self, mo: str | None = None) -> int:
        with self._lock:
            if mo is None:
                rows = self._db.execute("SELECT count(*) FROM task").fetchone()[0]
                return int(rows) + sum(batch.spec.count for batch in self._batches.values())
            rows = self._db.execute("SELECT count(*) FROM task WHERE mo_oid = ?", (mo,)).fetchone()[0]
            return int(rows) + sum(len(batch.indices(mo)) for batch in self._batches.values())

    # --- replies --------------------------------------------------------------------------------

    def reply(self, task_id: str, reply: dict[str, Any], idempotency_key: str | None) -> dict[str, Any]:
        """Write a (validated) reply to the task's row and upload it: ``{"result": "success", "task": …}``.

        Raises TaskNotFound (404), ReplyMalformed (422), IdempotencyConflict (422), ReplyRefused (409).
        A key seen before with the same task and body returns the first answer and changes nothing;
        only applied replies are remembered under their key, so a refused reply may be sent again.
        A refused reply stays written, waiting to be uploaded (``error_upload`` says why).
        """
        with self._lock:
            task = self.task(task_id)
            if task is None:
                raise TaskNotFound(task_id)
            if idempotency_key is None and self.require_idempotency_key:
                raise ReplyMalformed("Idempotency-Key", "the Idempotency-Key header is required")
            if idempotency_key is not None and not 0 < len(idempotency_key.strip()) <= 255:
                raise ReplyMalformed("Idempotency-Key", "the Idempotency-Key header must be 1..255 characters")
            canonical = json.dumps(reply, sort_keys=True, ensure_ascii=False)
            fingerprint = hashlib.sha256(f"{task_id}\n{canonical}".encode()).hexdigest()
            if idempotency_key is not None:
                seen = self._db.execute("SELECT fingerprint, answer FROM reply WHERE idempotency_key = ?",
                                        (idempotency_key,)).fetchone()
                if seen is not None:
                    if seen[0] != fingerprint:
                        raise IdempotencyConflict(idempotency_key)
                    first: dict[str, Any] = json.loads(seen[1])
                    return first
            self._db.execute("INSERT OR REPLACE INTO upload (task_id, body, need_upload) VALUES (?, ?, 1)",
                             (task_id, canonical))
            return self._upload(task, reply, idempotency_key, fingerprint)

    def upload(self, task_id: str) -> dict[str, Any]:
        """SAMSON's ``{"attach_id": id}``: upload the reply written for the task, if it waits."""
        with self._lock:
            task = self.task(task_id)
            if task is None:
                raise TaskNotFound(task_id)
            row = self._db.execute("SELECT body FROM upload WHERE task_id = ? AND need_upload = 1",
                                   (task_id,)).fetchone()
            if row is None:
                raise ReplyRefused("NOTHING_TO_UPLOAD", "no reply waits to be uploaded for this task")
            reply = json.loads(row[0])
            fingerprint = hashlib.sha256(f"{task_id}\n{row[0]}".encode()).hexdigest()
            return self._upload(task, reply, None, fingerprint)

    def upload_pending(self) -> dict[str, Any]:
        """SAMSON's ``{"attach_id": 0}``: upload every reply that waits; ``{"result", "uploaded", "failed"}``."""
        with self._lock:
            waiting = [r[0] for r in self._db.execute(
                "SELECT task_id FROM upload WHERE need_upload = 1 ORDER BY task_id").fetchall()]
            uploaded, failed = 0, []
            for task_id in waiting:
                try:
                    self.upload(task_id)
                    uploaded += 1
                except (ReplyRefused, TaskNotFound) as exc:
                    failed.append({"attach_id": task_id, "code": getattr(exc, "code", "TASK_NOT_FOUND"),
                                   "detail": getattr(exc, "detail", "Task not found")})
            return {"result": "success", "uploaded": uploaded, "failed": failed}

    def _upload(self, task: dict[str, Any], reply: dict[str, Any], idempotency_key: str | None,
                fingerprint: str) -> dict[str, Any]:
        task_id = task["id"]
        try:
            if self._reject_count > 0:
                self._reject_count -= 1
                raise ReplyRefused(*self._reject)
            outcome = self._apply(task, reply)
        except ReplyRefused as exc:
            self._db.execute("UPDATE upload SET error_upload = ? WHERE task_id = ?", (exc.detail, task_id))
            raise
        now = self._clock().astimezone(MSK).isoformat()
        self._db.execute("UPDATE upload SET need_upload = 0, upload_date = ?, error_upload = NULL WHERE task_id = ?",
                         (now, task_id))
        answer = {"result": "success", "task": self.task(task_id)}
        self._db.execute(
            "INSERT INTO reply (id, task_id, idempotency_key, fingerprint, outcome, status, applied_at, answer)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (str(uuid.uuid4()), task_id, idempotency_key, fingerprint, outcome, reply["status"], now,
             json.dumps(answer, ensure_ascii=False)))
        return answer

    def uploads(self, need_upload: bool | None = None) -> list[dict[str, Any]]:
        """The written replies as SAMSON's columns: ``attach_id``, ``need_upload``, ``uploadDate``, ``error_upload``."""
        sql = "SELECT task_id, need_upload, upload_date, error_upload FROM upload"
        with self._lock:
            rows = (self._db.execute(sql + " ORDER BY task_id") if need_upload is None else
                    self._db.execute(sql + " WHERE need_upload = ? ORDER BY task_id", (int(need_upload),))).fetchall()
        return [{"attach_id": r[0], "need_upload": bool(r[1]), "uploadDate": r[2], "error_upload": r[3]}
                for r in rows]

    def _reopened(self, task_id: str) -> bool:
        row = self._db.execute("SELECT reopened FROM task_state WHERE task_id = ?", (task_id,)).fetchone()
        return bool(row and row[0])

    def _set_state(self, task_id: str, status: str, result: Any, reopened: bool) -> None:
        self._db.execute("INSERT OR REPLACE INTO task_state (task_id, status, result, reopened) VALUES (?, ?, ?, ?)",
                         (task_id, status, None if result is None else json.dumps(result, ensure_ascii=False),
                          int(reopened)))

    def _apply(self, task: dict[str, Any], reply: dict[str, Any]) -> str:
        related: dict[str, Any] | None = None
        if int(task["order_type"]) == 3:
            related = self.task(str(task.get("related_task_id") or ""))
            if related is None:
                raise ReplyRefused("RELATED_TASK_NOT_FOUND", "the task this cancellation names is unknown")
        outcome = check_reply(task, related, self._reopened(task["id"]), reply)
        with self._transaction():
            self._set_state(task["id"], OUTCOME_STATUS[outcome], reply, False)
            if related is not None and outcome == "CANCEL_APPROVED":
                # SAMSON executes a cancellation by rejecting the choice with reason 1 first (applyStatement).
                self._set_state(related["id"], "rejected", {**WITHDRAWN, "employee": reply.get("employee")}, False)
            elif related is not None and int(related["order_type"]) == 1:
                # «Ошибка отмены»: the choice takes SERVICE_PROVIDED or REFUSED (once more), whatever its status.
                self._set_state(related["id"], related["status"], related["result"], True)
        return outcome

    def reject_next(self, count: int, code: str | None = None, detail: str | None = None) -> int:
        """Refuse the next ``count`` replies with 409 ``{"detail", "code"}``; returns how many are pending."""
        with self._lock:
            self._reject_count = max(0, count)
            self._reject = (code or _DEFAULT_REJECT[0], detail or _DEFAULT_REJECT[1])
            return self._reject_count

    def replies(self, task_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT id, task_id, idempotency_key, outcome, status, applied_at FROM reply"
        with self._lock:
            rows = (self._db.execute(sql + " ORDER BY seq") if task_id is None
                    else self._db.execute(sql + " WHERE task_id = ? ORDER BY seq", (task_id,))).fetchall()
        keys = ("id", "task_id", "idempotency_key", "outcome", "status", "applied_at")
        return [dict(zip(keys, row, strict=True)) for row in rows]

    def reply_count(self, task_id: str | None = None) -> int:
        with self._lock:
            row = (self._db.execute("SELECT count(*) FROM reply") if task_id is None
                   else self._db.execute("SELECT count(*) FROM reply WHERE task_id = ?", (task_id,))).fetchone()
            return int(row[0])

    def reset(self) -> None:
        """Forget every task, batch, reply and reject-next; serve only the MOs given at construction."""
        with self._transaction():
            for table in ("task", "batch", "task_state", "reply", "served_mo", "upload"):
                self._db.execute(f"DELETE FROM {table}")
            self._batches.clear()
            self._reject_count, self._reject = 0, _DEFAULT_REJECT
            self.serve(self._configured_mos)
