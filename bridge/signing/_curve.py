"""Scalar multiplication on a short Weierstrass curve ``y² = x³ + ax + b`` over GF(p), in Jacobian coordinates.

gostcrypto multiplies in affine coordinates: every addition and doubling inverts modulo p (a
``pow(x, -1, p)``, ~30 µs for 256 bits) and first compares the two points as byte arrays (more than
half of its time). Here a point is ``(X, Y, Z)`` with ``x = X/Z²``, ``y = Y/Z³``: no inversion until the
end, a 4-bit fixed window (15 precomputed multiples, 4 doublings and at most one addition per nibble).
The formulas are the Explicit-Formulas Database's ``dbl-2007-bl`` and ``add-2007-bl`` for Jacobian
coordinates with any ``a`` (hyperelliptic.org/EFD/g1p/auto-shortw-jacobian.html). The result is the
same point (tests/unit/test_signing.py compares it with gostcrypto's own multiplication, and the
signatures are checked by ``openssl`` with gost-engine); like gostcrypto it is not constant-time.
"""

from __future__ import annotations

__all__ = ["multiply"]

_Jacobian = tuple[int, int, int]
_INFINITY: _Jacobian = (1, 1, 0)


def _double(point: _Jacobian, a: int, p: int) -> _Jacobian:
    x, y, z = point
    if z == 0 or y == 0:
        return _INFINITY
    xx, yy, zz = x * x % p, y * y % p, z * z % p
    yyyy = yy * yy % p
    s = 2 * ((x + yy) ** 2 - xx - yyyy) % p
    m = (3 * xx + a * zz * zz) % p
    t = (m * m - 2 * s) % p
    return t, (m * (s - t) - 8 * yyyy) % p, ((y + z) ** 2 - yy - zz) % p


def _add(one: _Jacobian, two: _Jacobian, a: int, p: int) -> _Jacobian:
    x1, y1, z1 = one
    x2, y2, z2 = two
    if z1 == 0:
        return two
    if z2 == 0:
        return one
    z1z1, z2z2 = z1 * z1 % p, z2 * z2 % p
    u1, u2 = x1 * z2z2 % p, x2 * z1z1 % p
    s1, s2 = y1 * z2 * z2z2 % p, y2 * z1 * z1z1 % p
    h, r = (u2 - u1) % p, 2 * (s2 - s1) % p
    if h == 0:
        return _double(one, a, p) if r == 0 else _INFINITY
    i = 4 * h * h % p
    j = h * i % p
    v = u1 * i % p
    x3 = (r * r - j - 2 * v) % p
    return x3, (r * (v - x3) - 2 * s1 * j) % p, ((z1 + z2) ** 2 - z1z1 - z2z2) * h % p


def multiply(k: int, x: int, y: int, a: int, p: int) -> tuple[int, int] | None:
    """``k·(x, y)`` in affine coordinates; None for the point at infinity (k a multiple of the order)."""
    if k < 0:
        raise ValueError("a scalar multiple needs k ≥ 0")
    table: list[_Jacobian] = [_INFINITY, (x % p, y % p, 1)]
    for _ in range(14):
        table.append(_add(table[-1], table[1], a, p))
    result = _INFINITY
    for shift in range((k.bit_length() + 3) // 4 * 4 - 4, -4, -4):
        for _ in range(4):
            result = _double(result, a, p)
        nibble = (k >> shift) & 15
        if nibble:
            result = _add(result, table[nibble], a, p)
    rx, ry, rz = result
    if rz == 0:
        return None
    zinv = pow(rz, -1, p)
    zinv2 = zinv * zinv % p
    return rx * zinv2 % p, ry * zinv2 * zinv % p
