"""Latency of resolving one new record against a resolved city (no full re-run).

    .venv/bin/python bench/link_incremental.py --city /tmp/city [--held 2000]

Resolves the city without ``--held`` records that belong to people who have other
records, builds the in-memory :class:`Resolver` once, then resolves each held record
alone and reports the median and p99 latency, and how many joined their right person.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from linkgraph.config import REPO_ROOT
from linkgraph.link import Linker, LinkMapping, Resolver

MAPPING = REPO_ROOT / "seed" / "mappings" / "rosters.toml"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--city", type=Path, required=True)
    ap.add_argument("--held", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    rosters = ds.dataset(args.city / "rosters", format="parquet").to_table()
    truth = pq.read_table(args.city / "truth" / "records.parquet")
    person = dict(zip(truth["record_id"].to_pylist(), truth["person_id"].to_pylist(), strict=True))
    counts: dict[str, int] = {}
    for p in person.values():
        counts[p] = counts.get(p, 0) + 1
    rid = rosters["record_id"].to_pylist()
    eligible = [i for i, r in enumerate(rid) if counts[person[r]] >= 2]
    rng = np.random.default_rng(args.seed)
    held = set(rng.choice(eligible, size=args.held, replace=False).tolist())
    mask = np.ones(len(rid), dtype=bool)
    mask[list(held)] = False
    base = rosters.filter(pa.array(mask))
    new = rosters.filter(pa.array(~mask)).to_pylist()
    with tempfile.TemporaryDirectory() as state:
        t = time.perf_counter()
        linker = Linker(base, LinkMapping.from_path(MAPPING), state_dir=state)
        persons = linker.resolve()
        t_resolve = time.perf_counter() - t
        t = time.perf_counter()
        resolver = Resolver.from_linker(linker)
        t_build = time.perf_counter() - t
        n_persons = len(pc.unique(persons["person_id"]))
        found = dict(
            zip(persons["record_id"].to_pylist(), persons["person_id"].to_pylist(), strict=True)
        )
        truth_to_pid: dict[str, str] = {}
        for r, p in found.items():
            truth_to_pid.setdefault(person[r], p)
        lat, right = [], 0
        for rec in new:
            t = time.perf_counter()
            out = resolver.resolve_one(rec)
            lat.append(time.perf_counter() - t)
            right += out.person_id == truth_to_pid.get(person[rec["record_id"]])
    ms = np.array(lat) * 1e3
    rss = psutil.Process().memory_info().rss / 2**30
    p50, p99 = np.median(ms), np.percentile(ms, 99)
    print(
        f"city: {base.num_rows:,} records, {n_persons:,} persons (full resolve {t_resolve:.1f} s); "
        f"resolver built in {t_build:.1f} s; RSS {rss:.2f} GiB"
    )
    print(
        f"resolve_one x{len(new)}: median {p50:.2f} ms, p99 {p99:.2f} ms, "
        f"max {ms.max():.2f} ms; joined the right person {right}/{len(new)}"
    )


if __name__ == "__main__":
    main()
