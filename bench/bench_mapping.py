"""Throughput of the esia.account mapping, both ways.

Run from the repository root:  .venv/bin/python bench/bench_mapping.py [records]
Prints records per second (median of 5 runs) for to_upstream and to_mis on one core.
The target is ≥ 100,000 records/s each way.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bridge.mapping import load_mapping  # noqa: E402

RUNS = 5


def main() -> None:
    records = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    mapping = load_mapping(ROOT / "mappings" / "esia" / "account.yaml")
    example = mapping.examples[0]
    for direction, convert, record in (
        ("to_upstream", mapping.to_upstream, dict(example.mis)),
        ("to_mis", mapping.to_mis, dict(example.upstream)),
    ):
        rates = []
        for _ in range(RUNS):
            start = time.perf_counter()
            for _ in range(records):
                convert(record)
            rates.append(records / (time.perf_counter() - start))
        print(
            f"{mapping.name} {direction:<11} {statistics.median(rates):>12,.0f} records/s "
            f"(median of {RUNS} runs × {records:,} records, {len(mapping.fields)} fields)"
        )


if __name__ == "__main__":
    main()
