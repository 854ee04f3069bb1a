"""The core's use case (``linkgraph.pipeline.decide``: certify → recognise → flag → dispatch)
over a city: wall time and peak RSS, each stage's time, and accuracy against the truth.

    python bench/certify.py                            # 100 k persons (generated if needed)
    python bench/certify.py --persons 1360000 --city /tmp/cityfull   # the full city, ~38 M events

Inputs come from the generator's ground truth (``tests/integration/truth_inputs.py``,
a BENCH/TEST HELPER: linkage taken as perfect) until the pipeline hands over its
own tables; they are written once to ``<city>/linked/`` and read back, so the
timed call is exactly what the monthly run and the live service call. Target at full scale:
certify + spread + flag ≤ 5 minutes, ≤ 12 GiB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import sys
import time
from pathlib import Path

import duckdb
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from truth_inputs import write_inputs  # noqa: E402  (bench/test helper, never product code)

from linkgraph.catalogue import Catalogue  # noqa: E402
from linkgraph.pipeline import CertificationRun, decide  # noqa: E402
from linkgraph.policy import Policy  # noqa: E402
from linkgraph.report import build_report, write_report  # noqa: E402
from linkgraph.synth import generate_city  # noqa: E402


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def current_gib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * resource.getpagesize() / 1024**3


class Stages:
    def __init__(self) -> None:
        self.rows: list[tuple[str, float, int, float, float]] = []

    def run(self, name: str, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        started, cpu = time.perf_counter(), time.process_time()
        result = fn(*args, **kwargs)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        n = getattr(result, "num_rows", 0)
        self.rows.append((name, seconds, n, current_gib(), peak_gib()))
        print(
            f"{name:<12} {seconds:7.1f} s wall {cpu:7.1f} s cpu {n:>12,} rows"
            f"  rss {current_gib():5.2f} GiB  peak {peak_gib():5.2f} GiB",
            flush=True,
        )
        return result


def ensure_city(city: Path, persons: int) -> None:
    manifest = city / "manifest.json"
    if manifest.exists() and json.loads(manifest.read_text())["persons"] == persons:
        return
    started = time.perf_counter()
    # detection is measured on a hundred times the reform's irregularities (enough cases)
    generate_city(city, persons, months=12, seed=1, fraud=100)
    print(f"generated {persons:,} persons in {time.perf_counter() - started:.0f} s")


def accuracy(city: Path, run: CertificationRun) -> dict[str, float]:
    """A few ground-truth figures (the integration test's bars) for the record."""
    db = duckdb.connect()
    db.register("certs", run.certifications)
    db.register("flags", run.flags)
    db.register("tasks", run.tasks)
    t = city / "truth"
    db.execute(f"CREATE VIEW truth AS SELECT * FROM '{t}/persons.parquet'")
    db.execute(f"CREATE VIEW sit AS SELECT * FROM '{t}/situations.parquet'")

    def pair(kind: str, truth_key: str, flag_key: str) -> tuple[float, float]:
        tn, fn, hit = db.sql(
            f"""WITH a AS (SELECT {truth_key} AS k FROM sit WHERE kind = '{kind}'),
                     b AS (SELECT {flag_key} AS k FROM flags WHERE kind = '{kind}')
                SELECT (SELECT count(*) FROM a), (SELECT count(*) FROM b),
                       (SELECT count(*) FROM a JOIN b USING (k))"""
        ).fetchall()[0]
        return hit / max(tn, 1), hit / max(fn, 1)

    certified, dead, posthumous = db.sql(
        """SELECT count(*), count(t.death_date),
                  count(*) FILTER (WHERE c.certified_on > t.death_date)
           FROM certs c JOIN truth t USING (person_id) WHERE c.status = 'certified'"""
    ).fetchall()[0]
    no_trace, tasked = db.sql(
        """SELECT count(*), count(k.person_id) FROM truth t
           LEFT JOIN (SELECT DISTINCT person_id FROM tasks) k USING (person_id)
           WHERE t.no_trace"""
    ).fetchall()[0]
    dup = pair("duplicate_enrolment", "list_sort(record_ids)", "list_sort(enrollment_ids)")
    excl = pair("exclusive_conflict", "person_id || '|' || detail", "key")
    pad = pair("paid_after_death", "record_ids[1]", "enrollment_ids[1]")
    amounts = db.sql(
        """SELECT (SELECT sum(amount) FROM sit WHERE kind = 'paid_after_death'),
                  (SELECT sum(amount_at_risk) FROM flags WHERE kind = 'paid_after_death')"""
    ).fetchall()[0]
    return {
        "dead_share_of_certified_pct": round(100 * dead / max(certified, 1), 4),
        "posthumous_share_of_certified_pct": round(100 * posthumous / max(certified, 1), 4),
        "duplicate_recall": round(dup[0], 4),
        "duplicate_precision": round(dup[1], 4),
        "exclusive_recall": round(excl[0], 4),
        "exclusive_precision": round(excl[1], 4),
        "paid_after_death_recall_all_cases": round(pad[0], 4),
        "paid_after_death_precision": round(pad[1], 4),
        "paid_after_death_truth_yuan": float(amounts[0] or 0),
        "paid_after_death_flagged_yuan": float(amounts[1] or 0),
        "no_trace_with_task_pct": round(100 * tasked / max(no_trace, 1), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--city", type=Path, help="City directory (generated if absent).")
    parser.add_argument("--as-of", default="2026-12-31")
    parser.add_argument("--no-accuracy", action="store_true")
    args = parser.parse_args()

    city = args.city or Path(f"/tmp/linkgraph-bench/city-{args.persons}")
    ensure_city(city, args.persons)
    if not all((city / "linked" / f"{n}.parquet").exists() for n in ("persons", "events")):
        started = time.perf_counter()
        write_inputs(city)
        print(f"truth inputs written in {time.perf_counter() - started:.0f} s (not timed below)")

    as_of = dt.date.fromisoformat(args.as_of)
    catalogue = Catalogue.load()
    policy = Policy.load().check(catalogue)
    s = Stages()
    linked = city / "linked"
    persons = s.run("read persons", pq.read_table, linked / "persons.parquet")
    enrollments = s.run("read enrol.", pq.read_table, linked / "enrollments.parquet")
    events = s.run("read events", pq.read_table, linked / "events.parquet")
    wall, cpu = time.perf_counter(), time.process_time()
    # The one use case the monthly run and the live service share.
    run = s.run("decide", decide, persons, enrollments, events, policy, catalogue, as_of)
    core, core_cpu = time.perf_counter() - wall, time.process_time() - cpu
    print("decide, per stage (s):", json.dumps(run.timings))
    report = s.run(
        "report", build_report, run, persons, enrollments, events, catalogue, city=str(city)
    )
    write_report(report, city / "report")
    print(
        f"\ncertify+spread+flag+dispatch: {core:.1f} s wall, {core_cpu:.1f} s cpu, "
        f"peak RSS {peak_gib():.2f} GiB "
        f"({persons.num_rows:,} persons, {events.num_rows:,} events, "
        f"{enrollments.num_rows:,} enrolments)"
    )
    print("certification:", json.dumps(report["certification"]))
    if not args.no_accuracy:
        print("against truth:", json.dumps(accuracy(city, run), indent=1))


if __name__ == "__main__":
    main()
