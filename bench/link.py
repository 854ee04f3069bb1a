"""Benchmark linkgraph's resolver against Splink 4 (DuckDB) on the same generated records.

    .venv/bin/python bench/link.py --city /tmp/city            # an existing `linkgraph seed` city
    .venv/bin/python bench/link.py --persons 600000 --seed 5   # generate one first (~1 M records)
    .venv/bin/python bench/link.py --persons 300000 --errors 3 # the stress test: 3x the errors
    .venv/bin/python bench/link.py --city /tmp/city --no-splink

Besides pairwise F1, each system's twins, household namesakes, same-name neighbours and
couples made one person are counted (link.evaluate.look_alike_merges), and linkgraph's
`explain` of one pair is timed on the saved state: the `linkgraph explain` command in its own
process (imports included), and the explanation alone.

Each system runs in a fresh child process (bench/_measure.py), pinned to 2 cores, timed
end to end from the raw roster records (normalisation included), with its peak RSS.
With ``--rounds N`` the two alternate N times (linkgraph, Splink, linkgraph, ...) so both
see the same machine, and the ratio is the median of the rounds' ratios: on a shared
machine one round's ratio moves by ±30 % with the neighbours' load.
Both are scored with the same pairwise precision / recall / F1 against truth/records.parquet.
Splink needs the ``bench`` extra: ``.venv/bin/pip install -e '.[bench]'``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _measure import measure
from linkgraph.config import REPO_ROOT
from linkgraph.link import Linker, LinkMapping, explain, look_alike_merges, pairwise_scores

MAPPING = REPO_ROOT / "seed" / "mappings" / "rosters.toml"
CORES = 2


def _pin() -> None:
    if hasattr(os, "sched_setaffinity"):
        cpus = sorted(os.sched_getaffinity(0))[:CORES]
        os.sched_setaffinity(0, set(cpus))


def load(city: Path, limit: int | None) -> tuple[pa.Table, pa.Table]:
    rosters = ds.dataset(city / "rosters", format="parquet").to_table()
    if limit:
        rosters = rosters.slice(0, limit)
    return rosters, pq.read_table(city / "truth" / "records.parquet")


def look_alikes(city: Path, truth: pa.Table, persons: pa.Table) -> str:
    people = pq.read_table(city / "truth" / "persons.parquet")
    merges = look_alike_merges(people, truth, persons)
    return "  ".join(f"{m.kind} {m.merged}/{m.pairs}" for m in merges.values())


def run_linkgraph(city: Path, limit: int | None, state: str) -> dict[str, Any]:
    _pin()
    rosters, _ = load(city, limit)
    linker = Linker(rosters, LinkMapping.from_path(MAPPING), state_dir=state)
    persons = linker.resolve()
    return {
        "persons": persons.select(["record_id", "person_id"]),
        "pairs": int(linker.timings["pairs"]),
        "pairs_note": "candidate pairs scored",
        "timings": {k: round(v, 1) for k, v in linker.timings.items() if k != "pairs"},
    }


def time_explain(state: str, persons: pa.Table) -> tuple[float, float]:
    """``linkgraph explain`` of two records on the saved state, as a user runs it: its own
    process (wall seconds), and the share spent in the explanation itself."""
    ids = persons["record_id"]
    a, b = str(ids[0]), str(ids[len(ids) // 2])
    script = Path(sys.executable).parent / "linkgraph"
    t = time.perf_counter()
    subprocess.run(
        [str(script), "explain", a, b, "--state-dir", state], check=True, capture_output=True
    )
    wall = time.perf_counter() - t
    t = time.perf_counter()
    explain(a, b, state_dir=state)
    return wall, time.perf_counter() - t


def run_splink(city: Path, limit: int | None) -> dict[str, Any]:
    """Splink 4, DuckDB backend, the same fields, normalisers and blocking keys."""
    _pin()
    import pyarrow.compute as pc
    import splink.comparison_library as cl
    from splink import DuckDBAPI, SettingsCreator, block_on
    from splink import Linker as SplinkLinker

    from linkgraph import normalise as nz

    rosters, _ = load(city, limit)
    ids = nz.resident_ids(rosters["id_number"])
    dates = nz.dates(rosters["birth_date"])
    df = pa.table(
        {
            "unique_id": rosters["record_id"],
            "name": nz.names(rosters["name"]),
            "name_py": nz.pinyin_keys(rosters["name"]),
            "id_number": ids["id_number"],
            "birth_date": pc.strftime(dates, format="%Y%m%d"),
            "gender": rosters["gender"],
            "phone": nz.phones(rosters["phone"]),
            "address": nz.addresses(rosters["address"]),
            "sscard_no": rosters["sscard_no"],
            "bank_account": rosters["bank_account"],
        }
    ).to_pandas()
    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            cl.ExactMatch("name").configure(term_frequency_adjustments=True),
            cl.JaroWinklerAtThresholds("name_py", [0.92, 0.8]),
            cl.LevenshteinAtThresholds("id_number", [1, 2]),
            cl.LevenshteinAtThresholds("birth_date", [1, 2]),
            cl.ExactMatch("gender"),
            cl.LevenshteinAtThresholds("phone", [1]),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.7]),
            cl.ExactMatch("sscard_no"),
            cl.ExactMatch("bank_account"),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("id_number"),
            block_on("substr(id_number, 7, 12)"),
            block_on("substr(id_number, 1, 6)", "substr(id_number, 11, 8)"),
            block_on("substr(id_number, 1, 10)", "substr(id_number, 15, 4)"),
            block_on("substr(id_number, 1, 14)", "substr(id_number, 18, 1)"),
            block_on("substr(id_number, 1, 17)"),
            block_on("phone"),
            block_on("sscard_no"),
            block_on("bank_account"),
            block_on("name_py", "birth_date"),
        ],
        retain_intermediate_calculation_columns=False,
        retain_matching_columns=False,
    )
    linker = SplinkLinker(df, settings, db_api=DuckDBAPI())
    linker.training.estimate_probability_two_random_records_match(
        [block_on("id_number")], recall=0.9
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=2_000_000)
    linker.training.estimate_parameters_using_expectation_maximisation(block_on("id_number"))
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("name_py", "birth_date")
    )
    pairs = linker.inference.predict(threshold_match_probability=0.5)
    n_pairs = int(pairs.as_duckdbpyrelation().aggregate("count(*)").fetchall()[0][0])
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        pairs, threshold_match_probability=0.9
    )
    out = clusters.as_pandas_dataframe()[["unique_id", "cluster_id"]]
    persons = pa.table(
        {"record_id": out["unique_id"].astype(str), "person_id": out["cluster_id"].astype(str)}
    )
    return {"persons": persons, "pairs": n_pairs, "pairs_note": "pairs >= 0.5", "timings": {}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--city", type=Path)
    ap.add_argument("--persons", type=int, default=600_000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--errors", type=float, default=1.0, help="multiply the rosters' error rates")
    ap.add_argument("--limit", type=int, help="only the first N roster records")
    ap.add_argument("--no-splink", action="store_true")
    ap.add_argument("--rounds", type=int, default=1, help="alternate the systems N times")
    args = ap.parse_args()
    city = args.city
    if city is None:
        from linkgraph.synth import generate_city

        city = Path(tempfile.mkdtemp(prefix="city-"))
        generate_city(city, args.persons, months=1, seed=args.seed, errors=args.errors)
    _, truth = load(city, None)
    rosters, _ = load(city, args.limit)
    print(f"city {city}: {rosters.num_rows:,} roster records, {CORES} cores")
    systems = [("linkgraph", run_linkgraph)]
    if not args.no_splink:
        systems.append(("splink 4 (duckdb)", run_splink))
    ratios = []
    for round_ in range(args.rounds):
        if args.rounds > 1:
            print(f"round {round_ + 1} of {args.rounds}, load average {os.getloadavg()[0]:.1f}")
        rows = [run_system(name, fn, city, truth, args.limit) for name, fn in systems]
        if len(rows) == 2:
            (_, w1, m1, s1), (_, w2, m2, s2) = rows
            ratios.append(w2 / w1)
            print(
                f"splink / linkgraph: wall x{w2 / w1:.2f}, peak memory x{m2 / m1:.2f}, "
                f"F1 {s1.f1:.5f} vs {s2.f1:.5f}"
            )
    if len(ratios) > 1:
        print(
            f"splink / linkgraph over {len(ratios)} rounds: median x{statistics.median(ratios):.2f}"
            f" (rounds: {', '.join(f'x{r:.2f}' for r in ratios)})"
        )


def run_system(
    name: str, fn: Callable[..., dict[str, Any]], city: Path, truth: pa.Table, limit: int | None
) -> tuple[str, float, float, Any]:
    """One measured run of one system, printed: (name, wall s, peak GiB, pairwise scores)."""
    if fn is run_linkgraph:
        state = tempfile.mkdtemp(prefix="linkgraph-state-")
        wall, peak, result = measure(fn, city, limit, state)
        cli, work = time_explain(state, result["persons"])
        result["timings"]["explain (command)"] = round(cli, 2)
        result["timings"]["explain (in process)"] = round(work, 2)
        shutil.rmtree(state, ignore_errors=True)
    else:
        wall, peak, result = measure(fn, city, limit)
    s = pairwise_scores(truth, result["persons"])
    print(
        f"{name:18s} wall {wall:7.1f} s  peak {peak:5.2f} GiB  "
        f"{result['pairs_note']} {result['pairs']:>10,}  "
        f"P {s.precision:.5f}  R {s.recall:.5f}  F1 {s.f1:.5f}  {result['timings']}",
        flush=True,
    )
    print(f"{'':18s} made one person: {look_alikes(city, truth, result['persons'])}")
    return name, wall, peak, s


if __name__ == "__main__":
    main()
