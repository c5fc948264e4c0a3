"""Single-use, expiring tokens shared by every instance through the store.

``issue`` returns a random token and keeps only its hash, with the payload encrypted
(Fernet). ``consume`` succeeds once: the first caller marks it used in one atomic UPDATE,
so two instances racing with the same token cannot both win.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import delete, select, update

from bridge.store._engine import Store
from bridge.store._schema import OneTimeToken


class TokenRejected(Exception):
    """The token cannot be used; ``reason`` is one of unknown, expired, used, mismatch."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class OneTimeTokens:
    def __init__(self, store: Store, secret: bytes) -> None:
        self._store = store
        key = base64.urlsafe_b64encode(hashlib.sha256(b"one-time-token:" + secret).digest())
        self._fernet = Fernet(key)

    def issue(
        self, kind: str, payload: dict[str, Any], ttl: timedelta, binding: str | None = None,
        token: str | None = None,
    ) -> str:
        """A new single-use token (random, or ``token`` when the protocol fixes its form, e.g. a UUID)."""
        token = token or secrets.token_urlsafe(24)
        now = datetime.now(UTC)
        with self._store.session() as session:
            session.add(OneTimeToken(
                token_hash=_hash(token), kind=kind, binding=_hash(binding) if binding else None,
                payload=self._fernet.encrypt(json.dumps(payload, ensure_ascii=False).encode()),
                created_at=now, expires_at=now + ttl,
            ))
            session.commit()
        return token

    def consume(self, kind: str, token: str, binding: str | None = None) -> dict[str, Any]:
        """The payload, once. Raises TokenRejected (and burns the token on a binding mismatch)."""
        now = datetime.now(UTC)
        token_hash = _hash(token)
        with self._store.session() as session:
            claimed = session.execute(
                update(OneTimeToken)
                .where(OneTimeToken.token_hash == token_hash, OneTimeToken.kind == kind,
                       OneTimeToken.used_at.is_(None), OneTimeToken.expires_at > now)
                .values(used_at=now)
                .returning(OneTimeToken.payload, OneTimeToken.binding)
            ).first()
            session.commit()
            if claimed is None:
                row = session.scalars(
                    select(OneTimeToken).where(OneTimeToken.token_hash == token_hash, OneTimeToken.kind == kind)
                ).first()
                if row is None:
                    raise TokenRejected("unknown")
                raise TokenRejected("used" if row.used_at is not None else "expired")
        payload, stored_binding = claimed
        if stored_binding is not None and (binding is None or _hash(binding) != stored_binding):
            raise TokenRejected("mismatch")
        try:
            data: dict[str, Any] = json.loads(self._fernet.decrypt(payload))
        except InvalidToken:
            raise TokenRejected("unknown") from None
        return data

    def purge(self, older_than: timedelta = timedelta(hours=1)) -> int:
        """Delete tokens expired for longer than ``older_than``."""
        cutoff = datetime.now(UTC) - older_than
        with self._store.session() as session:
            result = session.execute(delete(OneTimeToken).where(OneTimeToken.expires_at < cutoff))
            deleted = getattr(result, "rowcount", 0)
            session.commit()
        return int(deleted or 0)


__all__ = ["OneTimeTokens", "TokenRejected"]
