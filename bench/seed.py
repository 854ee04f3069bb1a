"""How fast and how lean is the city generator?

    python bench/seed.py                      # 100 k baseline, then the full city
    python bench/seed.py --persons 1360000 --baseline 100000

Prints wall time, peak memory, events written, and the throughput ratio of the
large run against the baseline run in the same session (1.0 = linear scaling).
Targets for the full city (1.36 M persons, 12 months): ≤ 10 min, ≤ 8 GiB.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import measure
from linkgraph.synth import generate_city


def run(out: str, persons: int, months: int) -> tuple[int, int]:
    summary = generate_city(Path(out), persons, months=months, seed=1)
    return summary.roster_records, summary.events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_360_000)
    parser.add_argument("--baseline", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for label, n in (("baseline", args.baseline), ("city", args.persons)):
            wall, peak, (records, events) = measure(run, f"{tmp}/{label}", n, args.months)
            rows.append((label, n, records, events, wall, peak))
    header = ("run", "persons", "records", "events", "wall s", "peak GiB", "persons/s")
    print("{:<9} {:>10} {:>10} {:>11} {:>8} {:>9} {:>10}".format(*header))
    for label, n, records, events, wall, peak in rows:
        throughput = n / wall
        print(
            f"{label:<9} {n:>10,} {records:>10,} {events:>11,} {wall:>8.1f} {peak:>9.2f}"
            f" {throughput:>10,.0f}"
        )
    base, city = rows
    print(f"throughput ratio city/baseline: {(city[1] / city[4]) / (base[1] / base[4]):.2f}")
    print(
        f"targets: wall ≤ 600 s -> {'met' if city[4] <= 600 else 'MISSED'}; "
        f"peak ≤ 8 GiB -> {'met' if city[5] <= 8 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
