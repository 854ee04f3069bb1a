"""The monthly cycle at the city's real size: ``linkgraph simulate`` over N months.

    python bench/simulate.py                              # 20 k baseline, 1.36 M city, 12 months
    python bench/simulate.py --persons 300000 --city /tmp/c  # a smaller city, kept for reuse

Generates the city (or reuses ``--city`` when it holds one of the right size), links it
once and runs it month by month through the core (visits, flag decisions, notices, village
lists), in a fresh process per run; prints each month's seconds, the total wall time and
peak memory, and the throughput ratio against the baseline run in the same session.
Target (issue #14): the full city's 12 months within 30 minutes on this machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import ensure_city, measure
from linkgraph.config import Settings
from linkgraph.simulate import simulate_city


def _job(city: str, data: str, months: int) -> list[tuple[str, float]]:
    """(what, seconds since the previous step) for the linking and each month."""
    marks: list[tuple[str, float]] = []
    last = time.perf_counter()

    def step(line: str) -> None:
        nonlocal last
        now = time.perf_counter()
        marks.append((line.split(", ")[0][:44], now - last))
        last = now

    step("start")
    simulate_city(Path(city), months, settings=Settings(data_dir=Path(data)), progress=step)
    step("report")
    return [m for m in marks[1:] if not m[0].startswith("linking")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_360_000)
    parser.add_argument("--baseline", type=int, default=20_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--city", type=Path, help="Directory for (or with) the big city.")
    args = parser.parse_args()

    totals = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, n in (("baseline", args.baseline), ("city", args.persons)):
            city = args.city if (label == "city" and args.city) else Path(tmp) / f"city-{label}"
            generated = ensure_city(city, n)
            wall, peak, marks = measure(_job, str(city), f"{tmp}/data-{label}", args.months)
            totals[label] = (n, wall)
            print(
                f"\n{label}: {n:,} persons, {args.months} months"
                + (f" (generated in {generated:.0f} s)" if generated else " (city reused)")
            )
            for what, seconds in marks:
                print(f"  {what:<44} {seconds:8.1f} s")
            print(f"  {'total':<44} {wall:8.1f} s, peak {peak:.2f} GiB", flush=True)
    (bn, bw), (cn, cw) = totals["baseline"], totals["city"]
    print(f"\nthroughput ratio city/baseline: {(cn / cw) / (bn / bw):.2f} (1.0 = linear)")


if __name__ == "__main__":
    main()
