"""The whole job, stage by stage: ingest, normalise, link, certify, recognise, flag, dispatch,
report, graph — and :func:`decide`, the core's one sequence of rules.

Each stage is a plain function of the stage modules; this module only runs
them in order, times them, and hands their tables on. :func:`decide` is what
the monthly run calls over the whole city and the live service over the
persons a write touches (:mod:`linkgraph.service.live`): the same functions of
(inputs, ledger, policy, as-of date), so both answer alike. A run reads the
ledger (:mod:`linkgraph.ledger`) with the city's files, writes a new version
(:mod:`linkgraph.versions`) and switches to it only once everything is written.
The store is an adapter chosen at the edge (``linkgraph.graph.open_store``).
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import resource
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkgraph import duck
from linkgraph.casework import (
    LedgerInputs,
    apply_flag_moves,
    apply_roster_edits,
    apply_visits,
    carry_flags,
    ledger_inputs,
    with_visit_events,
)
from linkgraph.catalogue import Catalogue
from linkgraph.certify import certify
from linkgraph.config import Settings, get_settings
from linkgraph.dispatch import door_tasks
from linkgraph.flags import FLAG, detect, grade, offsets
from linkgraph.identity import KEYS
from linkgraph.ingest import Ingested, Rejected, read_events, read_rosters
from linkgraph.ledger import Journal
from linkgraph.monthly import month_row
from linkgraph.policy import Policy
from linkgraph.recognise import keep_offsets, recognise
from linkgraph.tables import LINKED_EVENT, RESOLUTION, ROSTER, event_keys
from linkgraph.versions import (
    TABLES,
    Version,
    Versions,
    events_in_batches,
    events_of,
    write_events,
)

if TYPE_CHECKING:
    from linkgraph.graph import GraphSchema, GraphTables

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
    ledger_entries: int = 0  # ledger entries the run read (API writes, visits, decisions)
    ledger_skipped: int = 0  # flag decisions that no longer apply (their flag is gone)
    version: Version | None = None
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


def months_for(city: Path) -> int:
    """How many months of feeds a city holds (from its manifest), else one."""
    manifest = city / "manifest.json"
    if manifest.exists():
        return int(json.loads(manifest.read_text()).get("months", 1))
    return 1


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


@dataclass
class CertificationRun:
    """The core's answer: one row per person, enrolment, flag and task, the evidence it
    weighed (linked events and the ledger's visits), and stage timings."""

    as_of: dt.date
    certifications: pa.Table
    recognitions: pa.Table
    flags: pa.Table
    tasks: pa.Table
    events: Any  # an Arrow table; on Spark, where Spark keeps them (``Engine.write_events``)
    timings: dict[str, float] = field(default_factory=dict)
    skipped_moves: int = 0


def decide(
    persons: pa.Table,
    enrollments: pa.Table,
    events: pa.Table,
    policy: Policy,
    catalogue: Catalogue,
    as_of: dt.date,
    ledger: LedgerInputs | None = None,
    *,
    previous_flags: pa.Table | None = None,
    with_flags: bool = True,
) -> CertificationRun:
    """certify → recognise → flag → dispatch, with the ledger's human inputs, timing each.

    ``events`` are linked events; the ledger adds its visits' events, its stop
    requests (recognise), its flag decisions (in order, through the workflow; the
    offsets they keep are taken from the arrears a resumption pays) and its visited
    tasks. ``with_flags=False`` skips flag detection, which compares persons with one
    another: the live path decides a few persons at a time and moves flags by the same
    workflow, one decision at a time (the arrears it shows are before offsets).
    """
    ledger = ledger or LedgerInputs()
    timings: dict[str, float] = {}
    con = duck.connect()

    def timed(name: str, start: float) -> None:
        timings[name] = round(time.perf_counter() - start, 3)
        # what a step freed goes back before the next one's DuckDB queries (Arrow's pool
        # keeps freed pages otherwise, and they would count beside DuckDB's)
        pa.default_memory_pool().release_unused()

    events = with_visit_events(events, ledger)
    t = time.perf_counter()
    certs = certify(events, persons, policy, as_of, enrollments=enrollments, con=con)
    timed("certify", t)
    t = time.perf_counter()
    rec = recognise(certs, enrollments, policy, as_of, stop_requests=ledger.stop_requests, con=con)
    timed("recognise", t)
    t = time.perf_counter()
    skipped = 0
    if with_flags:
        flags, skipped = decide_flags(
            persons, enrollments, certs, policy, catalogue, as_of, ledger, previous_flags, con
        )
    else:
        flags = FLAG.empty_table()
    rec = keep_offsets(rec, offsets(flags), as_of)
    timed("flags", t)
    t = time.perf_counter()
    tasks = apply_visits(
        door_tasks(certs, persons, policy, as_of, ledger.tipoffs), ledger.visited_tasks
    )
    timed("dispatch", t)
    con.close()
    return CertificationRun(as_of, certs, rec, flags, tasks, events, timings, skipped)


def decide_flags(
    persons: pa.Table,
    enrollments: pa.Table,
    certifications: pa.Table,
    policy: Policy,
    catalogue: Catalogue,
    as_of: dt.date,
    ledger: LedgerInputs,
    previous_flags: pa.Table | None,
    con: Any = None,
) -> tuple[pa.Table, int]:
    """The flags of a whole city (they compare persons with one another): found, carried
    from the previous run, moved by the ledger's decisions, graded; and how many decisions
    no longer apply."""
    found = detect(persons, enrollments, certifications, catalogue, as_of, con=con)
    flags, skipped = apply_flag_moves(
        carry_flags(found, previous_flags, ledger.stop_flags), ledger.flag_moves
    )
    return grade(flags, policy), skipped


def run_city(
    city: Path,
    *,
    settings: Settings | None = None,
    as_of: dt.date | None = None,
    load_store: bool = True,
    progress: Progress | None = None,
    replace_city: bool = False,
    linked: Path | None = None,
) -> RunResult:
    """Run the whole job over a city directory (``rosters/`` and ``events/``) and the ledger.

    ``linked`` names a folder of tables already linked (``persons``, ``enrollments``,
    ``events`` as Parquet): the run then starts at certification.

    Writes a new version of the results under ``settings.data_dir`` and switches
    to it at the end; if anything fails, the previous version stays current and
    whole. The store named by ``settings.backend`` is replaced by the result when
    ``load_store`` is true. Returns every stage's table and timing.
    """
    from linkgraph.report import build_report, write_report

    settings = settings or get_settings()
    catalogue = Catalogue(settings.catalogue_dir)
    policy = Policy.load(settings.seed_dir / "policy.toml")
    policy.check(catalogue)
    versions = Versions(settings.data_dir)
    city_identity = versions.check_city(linked or city, replace=replace_city)
    journal = Journal.of(settings.data_dir)
    entries = journal.read()
    ledger = ledger_inputs(entries)
    result = RunResult(
        as_of=as_of or as_of_for(city), ledger_entries=sum(e["kind"] != "city" for e in entries)
    )
    previous = versions.current()
    run = _Runner(result, progress)
    t = result.tables
    meta = {
        "as_of": result.as_of.isoformat(),
        "city": str(city.resolve()),
        "ledger_mark": ledger.mark,
        "policy": f"{policy.name} v{policy.version}",
        "backend": settings.backend if load_store else None,
        "city_identity": city_identity,
    }
    with versions.build(meta) as version:
        carried = versions.linkage_to_carry()
        if carried.exists():
            shutil.copytree(carried, version.linkage)
        engine = engine_for(settings)
        if linked is None:
            events = _identity_stages(run, engine, city, catalogue, settings, ledger, version)
        else:
            with run.stage("read linked tables") as n:
                for name in ("persons", "enrollments"):
                    t[name] = pq.read_table(linked / f"{name}.parquet")
                events = pq.read_table(linked / "events.parquet")
                version.write_table("keys", KEYS.empty_table())
                n["rows"] = t["persons"].num_rows
        with run.stage("certify") as n:
            decided = engine.decide(
                t["persons"],
                t["enrollments"],
                events,
                policy,
                catalogue,
                result.as_of,
                ledger,
                previous_flags=previous.table("flags") if previous is not None else None,
            )
            result.ledger_skipped = decided.skipped_moves
            t["certifications"], t["recognitions"] = decided.certifications, decided.recognitions
            t["flags"], t["tasks"] = decided.flags, decided.tasks
            n["rows"] = decided.certifications.num_rows
        del events  # the decided events (visits included) are the ones kept from here
        result.stages.pop()  # replaced by the certification stages' own timings
        for timed_as, seconds in decided.timings.items():
            stage, table = DECISION_STAGES[timed_as]
            result.stages.append(StageTiming(stage, seconds, t[table].num_rows, _peak_gib()))
        with run.stage("report") as n:
            # the events as the core saw them, visits included, written where the engine
            # holds them; from here they are read from the version's file, not held
            engine.write_events(version, decided.events)
            t["events"] = decided.events = events_of(version)
            result.report = build_report(
                decided,
                t["persons"],
                t["enrollments"],
                events_in_batches(version, ["event_id", "channel", "person_id"]),
                catalogue,
                city=str(city),
                months=months_for(city),
                monthly=[month_row(decided, policy, ledger.visited_tasks, ledger.tipoffs)],
            )
            json_path, html_path = write_report(result.report, version.report)
            for name in TABLES:
                version.write_table(name, t[name])
            final = settings.data_dir / "report"
            result.report_paths = {"json": final / json_path.name, "html": final / html_path.name}
            n["rows"] = 1
        if load_store:
            with run.stage("graph") as n:
                # the events read from the version's file a batch at a time, not mapped
                events = events_in_batches(version, LINKED_EVENT.names)
                parts = graph_parts_of_run(t, catalogue, policy, events)
                with _store_for(settings, version, engine) as store:
                    n["rows"] = store.load_parts(parts).total
    result.version = versions.current()
    assert result.version is not None
    journal.append("city", "run", "linkgraph run", version=result.version.id, **city_identity)
    return result


def graph_parts_of_run(
    tables: dict[str, pa.Table],
    catalogue: Catalogue,
    policy: Policy,
    events: pa.Table | pa.RecordBatchReader | None = None,
) -> Iterator[GraphTables]:
    """The graph of a run's tables, in parts: what the graph stage loads, and what a test
    or a benchmark builds to look at that graph (``graph.model.merge`` makes it one).
    ``events``: the run's events read otherwise than ``tables["events"]``."""
    from linkgraph.graph.model import graph_parts  # the graph's modules load only to build it

    return graph_parts(
        catalogue,
        tables["persons"],
        tables.get("records", ROSTER.empty_table()),
        tables.get("resolution", RESOLUTION.empty_table()),
        tables["enrollments"],
        tables["events"] if events is None else events,
        certifications=tables["certifications"],
        enrollment_status=tables["recognitions"],
        flags=tables["flags"],
        tasks=tables["tasks"],
        death_channels=policy.negative.death_channels,
    )


#: each timing of a :class:`CertificationRun`: the stage it reports and the table it made
DECISION_STAGES = {
    "certify": ("certify", "certifications"),
    "recognise": ("recognise", "recognitions"),
    "flags": ("flag", "flags"),
    "dispatch": ("dispatch", "tasks"),
    "decide (spark)": ("certify, recognise, dispatch (spark)", "certifications"),
}


def ledger_rows_unseen(near: pa.Table, ledger_rows: pa.Table, name: str) -> pa.Table:
    """The ledger's (API) rows that the city's files do not hold too; ``near`` are the
    files' rows with the ledger rows' ids (a row the files also hold is kept once)."""
    if name == "records":
        seen = pc.is_in(ledger_rows["record_id"], value_set=near["record_id"])
    else:  # an event is its channel's and the channel's id: (channel, event_id)
        seen = pc.is_in(event_keys(ledger_rows), value_set=event_keys(near))
    return ledger_rows.filter(pc.invert(seen))


def _with_ledger_rows(files: pa.Table, ledger_rows: pa.Table, name: str) -> pa.Table:
    """The city's rows and the ledger's (API) rows, a row the files also hold kept once."""
    if ledger_rows.num_rows == 0:
        return files
    key = "record_id" if name == "records" else "event_id"
    near = files.filter(pc.is_in(files[key], value_set=ledger_rows[key]))
    unseen = ledger_rows_unseen(near, ledger_rows, name)
    return pa.concat_tables([files, unseen.cast(files.schema)])


class Engine(Protocol):
    """What runs the batch stages: in process (:class:`EmbeddedEngine`) or on Apache Spark
    (:class:`linkgraph.spark.engine.SparkEngine`). The rules are the core's either way;
    raw and linked events stay wherever the engine keeps them until the core's answer."""

    def read_rosters(self, directory: Path, catalogue: Catalogue, ledger: pa.Table) -> Ingested:
        """The rosters' accepted records (an Arrow table), the ledger's records added."""
        ...

    def read_events(self, directory: Path, catalogue: Catalogue, ledger: pa.Table) -> Ingested:
        """The feeds' accepted events (wherever the engine keeps them), the ledger's added."""
        ...

    def rows(self, events: Any) -> int: ...

    def resolve(
        self, records: pa.Table, mapping: Any, state_dir: Path, catalogue: Catalogue
    ) -> pa.Table:
        """Persons of the roster records (the catalogue tells an engine that places work
        by district where each record lives)."""
        ...

    def link_events(self, events: Any, keys: pa.Table, catalogue: Catalogue) -> Any: ...

    def import_files(
        self, schema: GraphSchema, parts: Iterable[GraphTables], directory: Path
    ) -> tuple[list[tuple[str, list[Path]]], list[tuple[str, list[Path]]]]:
        """The graph's ``neo4j-admin`` import files (a Neo4j store's bulk load), from its
        conformed parts (see ``linkgraph.graph.neo4j_store.ImportFiles``)."""
        ...

    def write_events(self, version: Version, events: Any) -> None:
        """The events a run weighed (its :class:`CertificationRun`'s ``events``, wherever
        the engine keeps them) as the version's events file and index (:func:`write_events`)."""
        ...

    def decide(
        self,
        persons: pa.Table,
        enrollments: pa.Table,
        events: Any,
        policy: Policy,
        catalogue: Catalogue,
        as_of: dt.date,
        ledger: LedgerInputs,
        *,
        previous_flags: pa.Table | None,
    ) -> CertificationRun:
        """:func:`decide` over a whole city (its ``events`` wherever the engine keeps
        them, for :meth:`write_events`: an Arrow table in process)."""
        ...


class EmbeddedEngine:
    """The stages in this process: pyarrow, DuckDB and numpy."""

    def read_rosters(self, directory: Path, catalogue: Catalogue, ledger: pa.Table) -> Ingested:
        found = read_rosters(directory, catalogue)
        found.table = _with_ledger_rows(found.table, ledger, "records")
        return found

    def read_events(self, directory: Path, catalogue: Catalogue, ledger: pa.Table) -> Ingested:
        found = read_events(directory, catalogue)
        found.table = _with_ledger_rows(found.table, ledger, "events")
        return found

    def rows(self, events: Any) -> int:
        return int(events.num_rows)

    def resolve(
        self, records: pa.Table, mapping: Any, state_dir: Path, catalogue: Catalogue
    ) -> pa.Table:
        from linkgraph.link import resolve

        return resolve(records, mapping, state_dir=state_dir)

    def link_events(self, events: Any, keys: pa.Table, catalogue: Catalogue) -> Any:
        from linkgraph import identity

        return identity.link_events(events, keys, catalogue)

    def import_files(
        self, schema: GraphSchema, parts: Iterable[GraphTables], directory: Path
    ) -> tuple[list[tuple[str, list[Path]]], list[tuple[str, list[Path]]]]:
        from linkgraph.graph.neo4j_store import write_import_csv

        return write_import_csv(schema, parts, directory)

    def write_events(self, version: Version, events: Any) -> None:
        write_events(version, events)

    def decide(self, *args: Any, **kwargs: Any) -> CertificationRun:
        return decide(*args, **kwargs)


def engine_for(settings: Settings) -> Engine:
    """The engine ``settings.engine`` names."""
    if settings.engine == "spark":
        from linkgraph.spark.engine import SparkEngine

        return SparkEngine.of(settings)
    return EmbeddedEngine()


def _store_for(settings: Settings, version: Version, engine: Engine) -> Any:
    """The store a run loads: the new version's own embedded file, or the Neo4j server,
    whose import files the run's engine writes."""
    from linkgraph.graph import open_store

    return open_store(settings, version=version, import_files=engine.import_files)


def _identity_stages(
    run: _Runner,
    engine: Engine,
    city: Path,
    catalogue: Catalogue,
    settings: Settings,
    ledger: LedgerInputs,
    version: Version,
) -> Any:
    """ingest → normalise → link: persons and enrolments (in ``run``'s tables), identifier
    keys (in the version); returns the linked events, wherever the engine keeps them."""
    from linkgraph import identity
    from linkgraph.link import LinkMapping

    result, t = run.result, run.result.tables
    with run.stage("ingest") as n:
        rosters = engine.read_rosters(city / "rosters", catalogue, ledger.roster_records)
        feeds = engine.read_events(city / "events", catalogue, ledger.raw_events)
        t["records"], raw_events = rosters.table, feeds.table
        result.rejected += rosters.rejected + feeds.rejected
        result.repeated += rosters.repeated + feeds.repeated
        # the tables live in ``t`` and ``raw_events`` only, so a stage can free them (a loop
        # variable over the two kept the raw events until the link stage had returned)
        del rosters, feeds
        n["rows"] = t["records"].num_rows + engine.rows(raw_events)
    with run.stage("normalise") as n:
        normalised = identity.normalised_records(t["records"])
        n["rows"] = normalised.num_rows
    with run.stage("link") as n:
        mapping = LinkMapping.from_path(settings.seed_dir / "mappings" / "rosters.toml")
        t["resolution"] = engine.resolve(t["records"], mapping, version.linkage, catalogue)
        t["persons"] = identity.build_persons(normalised, t["resolution"], catalogue)
        t["enrollments"] = apply_roster_edits(
            identity.build_enrollments(t["records"], t["resolution"], catalogue),
            ledger.roster_edits,
        )
        keys = identity.identifier_keys(normalised, t["resolution"])
        version.write_table("keys", keys)  # the live path ties evidence by the same keys
        linked = engine.link_events(raw_events, keys, catalogue)
        del keys, raw_events, normalised
        n["rows"] = t["persons"].num_rows
    return linked
