"""The whole job at the city's real size: every stage's wall time and peak memory.

    python bench/city.py                                  # 100 k baseline + 1.36 M city, embedded
    python bench/city.py --backend neo4j --city /tmp/c    # into the live Neo4j (bulk importer)

Generates the city (or reuses ``--city`` when it already holds one of the right
size), runs ingest → link → certify → spread → flag → graph load, and prints a
table per run plus the throughput ratio of the city against the baseline run
in the same session. Targets (embedded, 1.36 M persons, ~38 M events):
≤ 15 minutes end to end, ≤ 12 GiB.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from _measure import ensure_city, measure
from linkgraph.config import Settings
from linkgraph.pipeline import run_city


def _job(city: str, data: str, backend: str) -> list[tuple[str, float, int, float]]:
    settings = Settings(data_dir=Path(data), backend=backend)  # type: ignore[arg-type]
    result = run_city(Path(city), settings=settings)
    return [(s.name, s.seconds, s.rows, s.peak_gib) for s in result.stages]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_360_000)
    parser.add_argument("--baseline", type=int, default=100_000)
    parser.add_argument("--city", type=Path, help="Directory for (or with) the big city.")
    parser.add_argument("--backend", choices=["embedded", "neo4j"], default="embedded")
    args = parser.parse_args()
    logging.basicConfig(format="%(asctime)s %(name)s: %(message)s")
    logging.getLogger("linkgraph").setLevel(logging.INFO)  # the Neo4j load's phases

    totals = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, n in (("baseline", args.baseline), ("city", args.persons)):
            city = args.city if (label == "city" and args.city) else Path(tmp) / f"city-{label}"
            generated = ensure_city(city, n)
            wall, peak, stages = measure(_job, str(city), f"{tmp}/data-{label}", args.backend)
            totals[label] = (n, wall)
            print(
                f"\n{label}: {n:,} persons, backend {args.backend}"
                + (f" (generated in {generated:.0f} s)" if generated else " (city reused)")
            )
            print(f"{'stage':<10} {'rows':>12} {'seconds':>9} {'peak GiB':>9}")
            for name, seconds, rows, stage_peak in stages:
                print(f"{name:<10} {rows:>12,} {seconds:>9.1f} {stage_peak:>9.2f}")
            print(f"{'total':<10} {'':>12} {wall:>9.1f} {peak:>9.2f}")
    (bn, bw), (cn, cw) = totals["baseline"], totals["city"]
    print(f"\nthroughput ratio city/baseline: {(cn / cw) / (bn / bw):.2f} (1.0 = linear)")


if __name__ == "__main__":
    main()
