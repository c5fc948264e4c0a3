"""What a SOAP thread started by a burst would give back if it ended (issue 17: should idle threads retire?).

Run from the repository root::

    .venv/bin/python bench/bench_thread_memory.py [--threads 64] [--kb 16] [--repeat 3]

Each round runs in a fresh process: ``--threads`` threads each parse a ``--kb`` KB document with lxml
(as a SOAP call does) and wait, so all are alive at once; then they are released and joined, and
``malloc_trim(0)`` is called (as the bridge does after a large call, ``bridge.soap._malloc``).
Resident memory (``/proc/self/statm``) is read before, with the threads alive, and after they ended.
"Given back" is the share of the threads' growth that their ending returned.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import statistics
import subprocess
import sys
import threading
import time


def _rss_kb() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * 4


def _round(threads: int, kb: int) -> dict[str, int]:
    from lxml import etree

    document = b"<a>" + b"<b>x</b>" * (kb * 1024 // 8) + b"</a>"
    release = threading.Event()

    def call() -> None:
        etree.fromstring(document)
        release.wait()

    etree.fromstring(document)  # the parser's first use is not the threads' cost
    before = _rss_kb()
    started = [threading.Thread(target=call) for _ in range(threads)]
    for thread in started:
        thread.start()
    time.sleep(1.0)
    alive = _rss_kb()
    release.set()
    for thread in started:
        thread.join()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    time.sleep(0.2)
    return {"before": before, "alive": alive, "after": _rss_kb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--kb", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_round(args.threads, args.kb)))
        return
    rounds = []
    for _ in range(args.repeat):
        command = [sys.executable, __file__, "--child", "--threads", str(args.threads), "--kb", str(args.kb)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        rounds.append(json.loads(out))
    print(f"{args.threads} threads, each parsing {args.kb} KB; RSS in KB, {args.repeat} fresh processes")
    print("| round | before | threads alive | after they ended | per thread | given back |")
    print("|---|---|---|---|---|---|")
    shares = []
    for index, r in enumerate(rounds, 1):
        grown = r["alive"] - r["before"]
        share = (r["alive"] - r["after"]) / grown if grown > 0 else 0.0
        shares.append(share)
        print(f"| {index} | {r['before']:,} | {r['alive']:,} | {r['after']:,} | {grown / args.threads:.0f} KB "
              f"| {share:.0%} |")
    print(f"given back, median: {statistics.median(shares):.0%}")


if __name__ == "__main__":
    main()
