"""Personal data the store must keep (not only recognise): sealed with a key derived from the bridge secret.

``Sealer.seal`` encrypts a JSON object (Fernet: AES-128-CBC + HMAC-SHA256, with a timestamp);
``Sealer.open`` decrypts it and fails loudly on tampering. A row holding a sealed value tells a
reader of the database nothing about the person; pair it with a ``Pseudonymizer`` key when the
row must also be found by an identifier.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

from cryptography.fernet import Fernet


class Sealer:
    def __init__(self, secret: bytes, purpose: str) -> None:
        key = base64.urlsafe_b64encode(hashlib.sha256(f"sealed:{purpose}:".encode() + secret).digest())
        self._fernet = Fernet(key)

    def seal(self, value: dict[str, Any]) -> bytes:
        return self._fernet.encrypt(json.dumps(value, ensure_ascii=False, sort_keys=True).encode())

    def open(self, sealed: bytes) -> dict[str, Any]:
        value = json.loads(self._fernet.decrypt(sealed))
        if not isinstance(value, dict):
            raise ValueError("sealed value is not an object")
        return value
