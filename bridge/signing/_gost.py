"""GOST R 34.10-2012 (256) arithmetic through ``gostcrypto``, in OpenSSL's byte order.

gostcrypto reads every integer big-endian and returns ``r || s``; gost-engine (OpenSSL) reads the
digest little-endian and writes ``s || r``. The recipe verified against ``openssl dgst -verify``:

1. ``d = streebog256(message)``
2. sign ``d[::-1]`` with the private scalar as big-endian bytes
3. swap the halves: ``r || s`` → ``s || r``
"""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

from gostcrypto import gosthash, gostsignature  # type: ignore[import-untyped]

from bridge.signing._curve import multiply
from bridge.signing._errors import SigningError

__all__ = [
    "CURVE_NAMES",
    "base64url",
    "curve_order",
    "public_key_from_private",
    "sign_digest",
    "streebog256",
    "verify_digest",
]

SIZE = 32

# gostcrypto inverts modulo p and q with a recursive extended Euclid in pure Python: about half of
# all CPU samples of a CheckPatient over СМЭВ (docs/performance.md). Python's own pow(x, -1, n) gives
# the same inverse (p and q are prime, so every value met is invertible) in C: a sign + verify
# takes 38–40 ms instead of 71–77 ms (same signature bytes; tests/unit/test_signing.py checks the two
# agree). Set once, at import, for every GOST34102012 object.
gostsignature.gost_34_10_2012.GOST34102012._invert = staticmethod(lambda value, n_mod: pow(value, -1, n_mod))


# Its point multiplication, affine with an inversion and a byte-array comparison per step, is the rest of
# a signature's cost: replaced by bridge/signing/_curve.py (Jacobian coordinates, a 4-bit window), and its
# affine addition (used once more by verify) compares integers. Same points, same signature bytes
# (tests/unit/test_signing.py); sign + verify ≈ 6× faster (docs/performance.md, bench/bench_smev_sign.py).
def _mul_point(self: Any, mul_value: int, x_op: int = -1, y_op: int = -1) -> tuple[int, int]:
    x, y = (x_op, y_op) if x_op > 0 and y_op > 0 else (self._x, self._y)   # gostcrypto's own rule
    point = multiply(mul_value, x, y, self._a, self._p)
    if point is None:
        raise ArithmeticError("a GOST R 34.10 scalar multiple is the point at infinity")
    return point


def _add(self: Any, x_1: int, x_2: int, y_1: int, y_2: int) -> tuple[int, int]:
    p = self._p
    if x_1 == x_2 and y_1 == y_2:
        grad = (3 * x_1 * x_1 + self._a) * pow(2 * y_1, -1, p) % p
    else:
        grad = (y_2 - y_1) * pow(x_2 - x_1, -1, p) % p   # ValueError for P + (−P): verify says False
    x_3 = (grad * grad - x_1 - x_2) % p
    return x_3, (grad * (x_1 - x_3) - y_1) % p


def _xor(op_a: bytes, op_b: bytes) -> bytearray:
    """gostcrypto's ``add_xor`` (byte by byte, a third of Streebog's time) as one integer XOR."""
    size = min(len(op_a), len(op_b))
    return bytearray((int.from_bytes(op_a[:size], "little") ^ int.from_bytes(op_b[:size], "little"))
                     .to_bytes(size, "little"))


gosthash.gost_34_11_2012.add_xor = _xor   # Streebog's only XOR; digests checked against openssl's in the tests
GOSTSIGNATURE_REFERENCE = (gostsignature.gost_34_10_2012.GOST34102012._mul_point,
                           gostsignature.gost_34_10_2012.GOST34102012._add)   # for the tests' comparison
gostsignature.gost_34_10_2012.GOST34102012._mul_point = _mul_point
gostsignature.gost_34_10_2012.GOST34102012._add = _add

# GOST R 34.10-2012 (256) parameter-set OIDs → gostcrypto curve names (esia.md §6.1, §6.3).
CURVE_NAMES: dict[str, str] = {
    "1.2.643.2.2.35.1": "id-tc26-gost-3410-2012-256-paramSetB",  # CryptoPro-A   (openssl paramset A)
    "1.2.643.2.2.35.2": "id-tc26-gost-3410-2012-256-paramSetC",  # CryptoPro-B   (B)
    "1.2.643.2.2.35.3": "id-tc26-gost-3410-2012-256-paramSetD",  # CryptoPro-C   (C)
    "1.2.643.2.2.36.0": "id-tc26-gost-3410-2012-256-paramSetB",  # CryptoPro-XchA (XA)
    "1.2.643.2.2.36.1": "id-tc26-gost-3410-2012-256-paramSetD",  # CryptoPro-XchB (XB)
    "1.2.643.7.1.2.1.1.1": "id-tc26-gost-3410-2012-256-paramSetA",  # TC26 A, twisted Edwards (TCA)
    "1.2.643.7.1.2.1.1.2": "id-tc26-gost-3410-2012-256-paramSetB",  # TC26 B = CryptoPro-A
    "1.2.643.7.1.2.1.1.3": "id-tc26-gost-3410-2012-256-paramSetC",  # TC26 C = CryptoPro-B
    "1.2.643.7.1.2.1.1.4": "id-tc26-gost-3410-2012-256-paramSetD",  # TC26 D = CryptoPro-C
}


def streebog256(data: bytes) -> bytes:
    """GOST R 34.11-2012 (Streebog) 256-bit digest, in the byte order ``openssl dgst -md_gost12_256`` prints."""
    return bytes(gosthash.new("streebog256", data=bytearray(data)).digest())


def base64url(data: bytes) -> str:
    """URL-safe base64 without ``=`` padding (what ЕСИА expects in ``client_secret``)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@cache
def _curve(curve_oid: str) -> Any:
    name = CURVE_NAMES.get(curve_oid)
    if name is None:
        raise SigningError(f"unsupported GOST R 34.10-2012 (256) parameter set {curve_oid}")
    return gostsignature.new(gostsignature.MODE_256, gostsignature.CURVES_R_1323565_1_024_2019[name])


def curve_order(curve_oid: str) -> int:
    """The order q of the curve's base point."""
    return int(_curve(curve_oid)._q)


def public_key_from_private(curve_oid: str, scalar: int) -> tuple[int, int]:
    """The public point of a private scalar."""
    point = bytes(_curve(curve_oid).public_key_generate(bytearray(scalar.to_bytes(SIZE, "big"))))
    return int.from_bytes(point[:SIZE], "big"), int.from_bytes(point[SIZE:], "big")


def sign_digest(curve_oid: str, scalar: int, digest: bytes) -> bytes:
    """Sign a Streebog-256 digest; the result is OpenSSL's raw layout ``s || r`` (big-endian halves)."""
    if len(digest) != SIZE:
        raise SigningError("a GOST R 34.11-2012 (256) digest is 32 bytes")
    # gostcrypto zero-fills the private-key buffer it is given, so it gets a fresh one each time.
    r_s = bytes(_curve(curve_oid).sign(bytearray(scalar.to_bytes(SIZE, "big")), bytearray(digest[::-1])))
    return r_s[SIZE:] + r_s[:SIZE]


def verify_digest(curve_oid: str, point: tuple[int, int], digest: bytes, signature: bytes) -> bool:
    """Check an OpenSSL-layout (``s || r``) signature of a Streebog-256 digest."""
    if len(digest) != SIZE or len(signature) != 2 * SIZE:
        return False
    x, y = point
    public = bytearray(x.to_bytes(SIZE, "big") + y.to_bytes(SIZE, "big"))
    r_s = bytearray(signature[SIZE:] + signature[:SIZE])
    try:
        return bool(_curve(curve_oid).verify(public, bytearray(digest[::-1]), r_s))
    except (ArithmeticError, ValueError, gostsignature.GOSTSignatureError):
        return False
