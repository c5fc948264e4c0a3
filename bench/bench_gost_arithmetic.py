"""GOST arithmetic A/B: gostcrypto's own point multiplication, affine addition and Streebog XOR against
bridge.signing's replacements (bridge/signing/_curve.py, _gost.py), interleaved round by round in one process.

    .venv/bin/python bench/bench_gost_arithmetic.py [--rounds 5] [--calls 10]

One call = Streebog-256 of a 2 KB message, sign, Streebog again, verify (what one ЭП-ОВ costs a sender
and its receiver, less the XML work); CPU milliseconds per call, the median of the rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

from gostcrypto import utils  # type: ignore[import-untyped]
from gostcrypto.gosthash import gost_34_11_2012  # type: ignore[import-untyped]
from gostcrypto.gostsignature import gost_34_10_2012  # type: ignore[import-untyped]

from bridge.signing import _gost

CURVE = "1.2.643.7.1.2.1.1.1"   # TC26 256 A, the parameter set the sandbox keys use


def _use(arithmetic: tuple[Any, Any, Any]) -> None:
    gost_34_10_2012.GOST34102012._mul_point, gost_34_10_2012.GOST34102012._add, gost_34_11_2012.add_xor = arithmetic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    args = parser.parse_args()
    ours = (gost_34_10_2012.GOST34102012._mul_point, gost_34_10_2012.GOST34102012._add, gost_34_11_2012.add_xor)
    theirs = (*_gost.GOSTSIGNATURE_REFERENCE, utils.add_xor)
    scalar = int.from_bytes(os.urandom(32), "big") % _gost.curve_order(CURVE)
    public = _gost.public_key_from_private(CURVE, scalar)
    message = b"<x>" + b"y" * 2000 + b"</x>"
    results: dict[str, list[float]] = {"gostcrypto": [], "bridge.signing": []}
    for _ in range(args.rounds):
        for name, arithmetic in (("gostcrypto", theirs), ("bridge.signing", ours)):
            _use(arithmetic)
            started = time.process_time()
            for _ in range(args.calls):
                signature = _gost.sign_digest(CURVE, scalar, _gost.streebog256(message))
                assert _gost.verify_digest(CURVE, public, _gost.streebog256(message), signature)
            results[name].append((time.process_time() - started) / args.calls * 1000)
    _use(ours)
    for name, values in results.items():
        print(f"{name:15} {statistics.median(values):6.1f} ms CPU per call (median of {args.rounds}: "
              f"{', '.join(f'{v:.1f}' for v in values)})")


if __name__ == "__main__":
    main()
