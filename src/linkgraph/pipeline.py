"""The whole job, stage by stage: ingest, normalise, link, graph, certify, spread, flag, dispatch.

Each stage is a plain function of the stage modules; this module only runs
them in order over one city directory, times them, and hands their tables on.
The store is an adapter chosen at the edge (``linkgraph.graph.open_store``).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import resource
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from linkgraph.catalogue import Catalogue
from linkgraph.config import Settings, get_settings
from linkgraph.ingest import Rejected, read_events, read_rosters

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class StageTiming:
    name: str
    seconds: float
    rows: int
    peak_gib: float


@dataclass
class RunResult:
    """What a run produced: its tables, timings, refusals, and where the report is."""

    as_of: dt.date
    stages: list[StageTiming] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    repeated: int = 0
    replayed: int = 0  # API writes put back after the store load
    replay_skipped: int = 0  # ... and those whose person, enrolment, task or flag is gone
    tables: dict[str, pa.Table] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    report_paths: dict[str, Path] = field(default_factory=dict)

    def rows(self, name: str) -> int:
        return self.tables[name].num_rows if name in self.tables else 0


def _peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def as_of_for(city: Path) -> dt.date:
    """The last day a city's feeds cover (from its manifest), else today."""
    manifest = city / "manifest.json"
    if manifest.exists():
        return dt.date.fromisoformat(json.loads(manifest.read_text())["end_date"])
    return dt.date.today()


class _Runner:
    def __init__(self, result: RunResult, progress: Progress | None) -> None:
        self.result = result
        self.progress = progress or (lambda _stage: None)

    @contextmanager
    def stage(self, name: str) -> Iterator[dict[str, int]]:
        self.progress(name)
        counter = {"rows": 0}
        started = time.perf_counter()
        yield counter
        gc.collect()  # stage objects in reference cycles would hold their arrays until later
        pa.default_memory_pool().release_unused()  # hand freed Arrow memory back for DuckDB
        self.result.stages.append(
            StageTiming(name, time.perf_counter() - started, counter["rows"], _peak_gib())
        )


def run_city(
    city: Path,
    *,
    settings: Settings | None = None,
    as_of: dt.date | None = None,
    load_store: bool = True,
    progress: Progress | None = None,
) -> RunResult:
    """Run the whole job over a city directory (``rosters/`` and ``events/``).

    The store named by ``settings.backend`` is replaced by the result when
    ``load_store`` is true. Returns every stage's table and timing.
    """
    from linkgraph import identity
    from linkgraph.flags import merge
    from linkgraph.graph import open_store
    from linkgraph.graph.model import graph_parts
    from linkgraph.link import LinkMapping, resolve
    from linkgraph.policy import Policy
    from linkgraph.report import build_report, run_certification, write_report
    from linkgraph.service.replay import replay_inbox

    settings = settings or get_settings()
    catalogue = Catalogue(settings.catalogue_dir)
    policy = Policy.load(settings.seed_dir / "policy.toml")
    policy.check(catalogue)
    result = RunResult(as_of=as_of or as_of_for(city))
    run = _Runner(result, progress)
    t = result.tables

    with run.stage("ingest") as n:
        for name, ingested in (
            ("records", read_rosters(city / "rosters", catalogue)),
            ("raw_events", read_events(city / "events", catalogue)),
        ):
            t[name] = ingested.table
            result.rejected += ingested.rejected
            result.repeated += ingested.repeated
        del ingested  # the tables live in ``t`` only, so a stage can free them
        n["rows"] = t["records"].num_rows + t["raw_events"].num_rows
    with run.stage("normalise") as n:
        normalised = identity.normalised_records(t["records"])
        n["rows"] = normalised.num_rows
    with run.stage("link") as n:
        mapping = LinkMapping.from_path(settings.seed_dir / "mappings" / "rosters.toml")
        t["resolution"] = resolve(t["records"], mapping, state_dir=settings.data_dir / "linkage")
        t["persons"] = identity.build_persons(normalised, t["resolution"], catalogue)
        t["enrollments"] = identity.build_enrollments(t["records"], t["resolution"], catalogue)
        t["events"] = identity.link_events(t["raw_events"], normalised, t["resolution"], catalogue)
        del t["raw_events"], normalised
        n["rows"] = t["persons"].num_rows
    with run.stage("certify") as n:
        certified = run_certification(
            t["persons"], t["enrollments"], t["events"], policy, catalogue, result.as_of
        )
        report_dir = settings.data_dir / "report"
        previous = report_dir / "flags.parquet"
        certified.flags = merge(
            certified.flags, pq.read_table(previous) if previous.exists() else None
        )
        t["certifications"], t["recognitions"] = certified.certifications, certified.recognitions
        t["flags"], t["tasks"] = certified.flags, certified.tasks
        n["rows"] = certified.certifications.num_rows
    result.stages.pop()  # replaced by the certification stages' own timings
    for stage, timed_as, table in (
        ("certify", "certify", "certifications"),
        ("recognise", "recognise", "recognitions"),
        ("flag", "flags", "flags"),
        ("dispatch", "dispatch", "tasks"),
    ):
        seconds = certified.timings[timed_as]
        result.stages.append(StageTiming(stage, seconds, t[table].num_rows, _peak_gib()))
    with run.stage("report") as n:
        result.report = build_report(
            certified, t["persons"], t["enrollments"], t["events"], catalogue, city=str(city)
        )
        json_path, html_path = write_report(result.report, report_dir)
        for name in ("certifications", "recognitions", "flags", "tasks"):
            pq.write_table(t[name], report_dir / f"{name}.parquet")
        result.report_paths = {"json": json_path, "html": html_path}
        n["rows"] = 1
    if load_store:
        with run.stage("graph") as n:
            parts = graph_parts(
                catalogue,
                t["persons"],
                t["records"],
                t["resolution"],
                t["enrollments"],
                t["events"],
                certifications=t["certifications"],
                enrollment_status=t["recognitions"],
                flags=t["flags"],
                tasks=t["tasks"],
            )
            with open_store(settings) as store:
                report = store.load_parts(parts)
                # The load replaced the store; what the API accepted since goes back on top.
                replayed = replay_inbox(store, settings)
            n["rows"] = report.total + replayed.written
            result.replayed, result.replay_skipped = replayed.written, replayed.skipped
    return result
