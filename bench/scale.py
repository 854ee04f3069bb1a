"""The scaling curve: the embedded engine and Spark side by side, per city size and core count.

    python bench/scale.py                                   # 0.34 M, 1.36 M, 2.72 M persons
    python bench/scale.py --sizes 20000 100000 --engines embedded local[2]

For each size it generates a city (or reuses one under ``--cities``), runs the job up
to dispatch (no graph load: the same for both engines) on each engine in a fresh
process, and prints wall time, the peak memory of the whole process tree (driver, JVM
and Python workers), Spark's shuffle volume (from its status API), and whether Spark
gave the same person for every record and the same status for every enrolment as the
embedded engine. Then it projects a province and a nation from the measured curve
(``--project``): the model and its assumptions are printed with the figures.

Engines: ``embedded``, ``local[N]`` (Spark, one JVM, N task threads) and
``local-cluster[W,C,MiB]`` (W executor processes of C cores: real shuffles between
processes, as on a cluster).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).parent))

from _measure import ensure_city

#: stages that run on the driver alone on Spark (see linkgraph.spark.engine), and the
#: linker's steps there (its saved timings)
DRIVER_STAGES = ("normalise", "flag", "report")
DRIVER_LINK_STEPS = ("em", "stable_ids_and_save")
PROVINCE = 16_000_000  # Anhui's beneficiaries in Bozhou's proportion (61 M x 1.36 / 5.2)
NATION = 300_000_000  # pensioners paid nationally


def _job(city: str, data: str, engine: str, out: str) -> None:
    """One run in a fresh process; writes its stages, shuffle bytes and answers to ``out``."""
    import pyarrow.parquet as pq

    from linkgraph.config import Settings
    from linkgraph.pipeline import run_city

    spark = engine != "embedded"
    settings = Settings(
        data_dir=Path(data),
        engine="spark" if spark else "embedded",
        spark_master=engine if spark else "",
    )
    result = run_city(Path(city), settings=settings, load_store=False)
    shuffle = _shuffle_bytes() if spark else 0
    skew: dict[str, float] = {}
    linked: dict[str, float] = {}
    if result.version is not None:
        from linkgraph.link.state import StateStore

        saved = StateStore(result.version.linkage).meta_and_model()
        skew = saved[0].get("skew", {}) if saved else {}
        linked = saved[0].get("timings", {}) if saved else {}
    # what runs on the driver alone, whatever the cluster: it does not shrink with cores
    serial = sum(s.seconds for s in result.stages if s.name in DRIVER_STAGES)
    serial += sum(linked.get(name, 0.0) for name in DRIVER_LINK_STEPS) if spark else 0.0
    pq.write_table(result.tables["resolution"], f"{out}/resolution.parquet")
    pq.write_table(result.tables["recognitions"], f"{out}/recognitions.parquet")
    stages = [(s.name, round(s.seconds, 1)) for s in result.stages]
    # the driver's peak so far (its own, ru_maxrss) as each stage ended: where it was set
    peaks = [(s.name, round(s.peak_gib, 2)) for s in result.stages]
    figures = {
        "stages": stages,
        "driver_peaks": peaks,
        "shuffle": shuffle,
        "skew": skew,
        "serial": serial,
    }
    Path(out, "run.json").write_text(json.dumps(figures))


def _shuffle_bytes() -> int:
    """Bytes written to shuffles by every stage of this process's Spark application."""
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is None or not spark.sparkContext.uiWebUrl:
        return -1
    base = f"{spark.sparkContext.uiWebUrl}/api/v1/applications/{spark.sparkContext.applicationId}"
    with urllib.request.urlopen(f"{base}/stages", timeout=30) as answer:
        return sum(int(s.get("shuffleWriteBytes", 0)) for s in json.load(answer))


def _tree_rss(pid: int) -> int:
    try:
        root = psutil.Process(pid)
        return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])
    except psutil.Error:
        return 0


def _own_rss(pid: int) -> int:
    try:
        return int(psutil.Process(pid).memory_info().rss)
    except psutil.Error:
        return 0


def _run(city: Path, data: Path, engine: str, out: Path) -> dict[str, Any]:
    """Wall seconds, the process tree's peak GiB, the driver's (the job's Python process
    alone: on Spark, not its JVM nor its workers) peak GiB, and the run's own figures."""
    ctx = mp.get_context("spawn")  # a clean interpreter: no Spark or Arrow state inherited
    process = ctx.Process(target=_job, args=(str(city), str(data), engine, str(out)))
    peak = driver = 0
    started = time.perf_counter()
    process.start()
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, driver
        while not stop.wait(0.5):
            peak = max(peak, _tree_rss(process.pid or 0))
            driver = max(driver, _own_rss(process.pid or 0))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    process.join()
    stop.set()
    sampler.join()
    wall = time.perf_counter() - started
    if process.exitcode != 0:
        raise RuntimeError(f"{engine} on {city} exited with {process.exitcode}")
    figures = json.loads((out / "run.json").read_text())
    return {"wall": wall, "peak_gib": peak / 1024**3, "driver_gib": driver / 1024**3, **figures}


def _same(embedded: Path, other: Path) -> tuple[int, int, int]:
    """Records placed with other records, records with another person_id, enrolments with
    another status (Spark against embedded).

    The first is the partition: a record counts when the records its person holds are not
    the same set on both engines. The second also counts a person numbered differently."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    def both(name: str, key: str) -> tuple[Any, Any] | None:
        a, b = (pq.read_table(f / f"{name}.parquet").sort_by(key) for f in (embedded, other))
        return (a, b) if a.num_rows == b.num_rows else None

    def differing(a: Any, b: Any, column: str) -> int:
        return int(pc.sum(pc.not_equal(a[column], b[column])).as_py() or 0)

    def first_record(persons: Any) -> Any:
        """Per record, the first record_id of its person: the partition, without numbers."""
        first = persons.group_by("person_id").aggregate([("record_id", "min")])
        at = pc.index_in(persons["person_id"], first["person_id"])
        return pc.take(first["record_id_min"], at)

    resolution = both("resolution", "record_id")
    recognitions = both("recognitions", "enrollment_id")
    if resolution is None or recognitions is None:
        return -1, -1, -1
    a, b = resolution
    apart = int(pc.sum(pc.not_equal(first_record(a), first_record(b))).as_py() or 0)
    return apart, differing(a, b, "person_id"), differing(*recognitions, "status")


def _today() -> str:
    return time.strftime("%Y-%m-%d %H:%M")


def _fit(rows: list[dict[str, Any]], engine: str, part: str = "wall") -> tuple[float, float] | None:
    """(seconds fixed, seconds per person) of one part of an engine's runs, by least
    squares over its sizes (``part``: "wall", "serial" or "parallel" = wall - serial)."""
    mine = [
        (r["persons"], r["wall"] - r.get("serial", 0.0) if part == "parallel" else r.get(part, 0.0))
        for r in rows
        if r["engine"] == engine and (part == "wall" or "serial" in r)
    ]
    if len({n for n, _ in mine}) < 2:
        return None
    slope, intercept = np.polyfit([n for n, _ in mine], [w for _, w in mine], 1)
    return max(float(intercept), 0.0), max(float(slope), 0.0)


def _project(rows: list[dict[str, Any]], cores: int, executors: int) -> None:
    """A province and a nation on ``executors`` x ``cores``, from the curve (Amdahl).

    Model: a run costs a fixed start, the driver's serial work (normalising the rosters,
    EM, stable IDs, flags, the report: a line through local[1]'s sizes, it does not
    shrink with cores), and the workers' work (a line through local[1]'s sizes too),
    spread over the cluster's cores with the parallel efficiency measured between
    local[1] and local[2] here. The graph load is not in it (one Neo4j server: see
    *Figures*). The shuffle grows with persons as measured.
    """
    serial, parallel = _fit(rows, "local[1]", "serial"), _fit(rows, "local[1]", "parallel")
    one, two = _fit(rows, "local[1]", "parallel"), _fit(rows, "local[2]", "parallel")
    if serial is None or parallel is None or one is None:
        print("\nno projection: local[1] needs at least two sizes with their serial part")
        return
    efficiency = min(one[1] / (2 * two[1]), 1.0) if two is not None and two[1] > 0 else 1.0
    largest = max(r["persons"] for r in rows if r["engine"] == "local[1]")
    measured = [r for r in rows if r["engine"] == "local[1]" and r["shuffle"] > 0]
    shuffle_per_person = max((r["shuffle"] / r["persons"] for r in measured), default=0.0)
    total = cores * executors
    fixed = serial[0] + parallel[0]
    print(f"\nprojection (lines through local[1]'s sizes up to {largest:,} persons):")
    print(f"  fixed {fixed:.0f} s; driver {serial[1] * 1e3:.3f} ms per person (serial);")
    print(f"  workers {parallel[1] * 1e3:.3f} core-ms per person on this machine's cores;")
    print(f"  parallel efficiency {efficiency:.2f} (local[2] against local[1], assumed to hold);")
    print(f"  shuffle {shuffle_per_person / 1024:.1f} KiB per person.")
    for name, persons in (("province", PROVINCE), ("nation", NATION)):
        driver = serial[1] * persons
        workers = parallel[1] * persons / (total * efficiency)
        volume = shuffle_per_person * persons / 1024**3
        print(
            f"  {name}: {persons / 1e6:.0f} M persons on {executors} executors x {cores} cores:"
            f" {(fixed + driver + workers) / 60:.0f} min (driver {driver / 60:.0f},"
            f" workers {workers / 60:.0f}), {volume:.0f} GiB shuffled"
        )


def _spread(skew: dict[str, float]) -> str:
    """How evenly the comparison work spread: the largest block's pairs and the largest
    task's against the mean and the median task."""
    if not skew.get("task_pairs_mean"):
        return ""
    mean, median = skew["task_pairs_mean"], skew["task_pairs_median"] or 1.0
    return (
        f"comparison tasks: largest block {skew['largest_block_pairs'] / mean:.2f}x the mean"
        f" task's pairs; largest task {skew['task_pairs_max'] / median:.2f}x the median,"
        f" {skew['task_pairs_max'] / mean:.2f}x the mean; {skew['blocks_split']:,.0f} blocks"
        f" split into units of at most {skew['block_pairs_bound']:,.0f} pairs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[340_000, 1_360_000, 2_720_000])
    parser.add_argument(
        "--engines",
        nargs="+",
        default=["embedded", "local[1]", "local[2]", "local-cluster[2,1,3072]"],
    )
    parser.add_argument("--cities", type=Path, help="Folder for (or with) the generated cities.")
    parser.add_argument("--executors", type=int, default=50, help="Projected cluster: executors.")
    parser.add_argument("--cores", type=int, default=8, help="Projected cluster: cores each.")
    parser.add_argument(
        "--results",
        type=Path,
        default=Path(__file__).parent / "results" / "scale.json",
        help="Rows of earlier runs, read for the projection and added to (the curve grows"
        " across sessions; each row says when it was measured).",
    )
    parser.add_argument(
        "--keep", type=Path, help="Folder to keep each run's answers in (resolution, recognitions)."
    )
    args = parser.parse_args()
    earlier = json.loads(args.results.read_text()) if args.results.exists() else []
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        cities = args.cities or Path(tmp) / "cities"
        print(
            f"{'persons':>10} {'engine':>26} {'wall s':>8} {'peak GiB':>9} {'py GiB':>7} "
            f"{'shuffle MiB':>12} {'×embedded':>10} {'grouped≠':>9} {'ids≠':>9} {'statuses≠':>10}"
        )
        for persons in args.sizes:
            city = cities / f"city-{persons}"
            ensure_city(city, persons)
            embedded_out: Path | None = None
            embedded_wall = 0.0
            for engine in args.engines:
                out = (args.keep or Path(tmp)) / f"out-{persons}-{engine}"
                out.mkdir(parents=True, exist_ok=True)
                try:
                    run = _run(city, Path(tmp) / f"data-{persons}-{engine}", engine, out)
                except RuntimeError as exc:
                    print(f"{persons:>10,} {engine:>26} failed: {exc}")
                    continue
                differs = ("", "", "")
                if engine == "embedded":
                    embedded_out, embedded_wall = out, run["wall"]
                elif embedded_out is not None:
                    differs = tuple(str(x) for x in _same(embedded_out, out))
                ratio = f"{run['wall'] / embedded_wall:.1f}" if embedded_wall else ""
                shuffle = f"{run['shuffle'] / 1024**2:.0f}" if run["shuffle"] > 0 else ""
                print(
                    f"{persons:>10,} {engine:>26} {run['wall']:>8.0f} {run['peak_gib']:>9.2f}"
                    f" {run['driver_gib']:>7.2f}"
                    f" {shuffle:>12} {ratio:>10} {differs[0]:>9} {differs[1]:>9} {differs[2]:>10}",
                    flush=True,
                )
                print(f"{'':>37} stages: " + ", ".join(f"{n} {t:.0f}" for n, t in run["stages"]))
                if run.get("driver_peaks"):
                    peaks = ", ".join(f"{n} {g:.2f}" for n, g in run["driver_peaks"])
                    print(f"{'':>37} driver peak GiB after: {peaks}")
                if run.get("skew"):
                    print(
                        f"{'':>37} skew: "
                        + ", ".join(f"{k} {v:,.0f}" for k, v in run["skew"].items())
                    )
                    print(f"{'':>37} {_spread(run['skew'])}")
                rows.append({"persons": persons, "engine": engine, **run} | {"on": _today()})
                args.results.parent.mkdir(parents=True, exist_ok=True)
                args.results.write_text(json.dumps(earlier + rows, indent=1))
        _project(earlier + rows, args.cores, args.executors)


if __name__ == "__main__":
    main()
