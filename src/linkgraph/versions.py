"""Versions of the core's results: a run builds one beside the current and switches at the end.

``<data_dir>/versions/<id>/`` holds one run's linkage state (``linkage/``), its
tables (persons, enrolments, certifications, recognitions, flags, tasks,
identifier keys as Parquet; evidence events as an Arrow file sorted by person,
with ``event_index.parquet`` giving each person's rows), its report (``report/``),
the embedded graph (``graph.duckdb``) and ``meta.json`` (as-of date, city, the
ledger mark it read up to). ``<data_dir>/current`` is a symbolic link to the
version in service, replaced atomically (``rename``) once a run has written
everything; ``<data_dir>/report`` points through it. A run that fails removes
its half-built folder: the previous version stays whole and serving.

One city per data folder: ``<data_dir>/city.json`` names it, and a run over
another city is refused unless told to replace it (the old versions and ledger
are moved aside, never merged).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from linkgraph import duck
from linkgraph.errors import LinkgraphError
from linkgraph.tables import LINKED_EVENT

KEEP = 2  # versions kept: the current and the one before it

TABLES = ("persons", "enrollments", "certifications", "recognitions", "flags", "tasks")
#: Tables a reader of the report wants beside it: kept in ``report/``, not twice.
REPORT_TABLES = ("certifications", "recognitions", "flags", "tasks")


class CityMismatch(LinkgraphError):
    """The data folder holds another city."""


@dataclass(frozen=True, slots=True)
class Version:
    """One run's results (see the module docstring)."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def meta(self) -> dict[str, Any]:
        meta: dict[str, Any] = json.loads((self.path / "meta.json").read_text())
        return meta

    @property
    def as_of(self) -> dt.date:
        return dt.date.fromisoformat(self.meta["as_of"])

    @property
    def ledger_mark(self) -> int:
        return int(self.meta.get("ledger_mark", -1))

    @property
    def linkage(self) -> Path:
        return self.path / "linkage"

    @property
    def report(self) -> Path:
        return self.path / "report"

    @property
    def graph(self) -> Path:
        return self.path / "graph.duckdb"

    def table_path(self, name: str) -> Path:
        return (self.report if name in REPORT_TABLES else self.path) / f"{name}.parquet"

    def table(self, name: str) -> pa.Table:
        return pq.read_table(self.table_path(name))

    def write_table(self, name: str, table: pa.Table) -> None:
        path = self.table_path(name)
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, path)


class Versions:
    """The versions of one data folder."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.root = data_dir / "versions"
        self.pointer = data_dir / "current"
        self._pointer = str(self.pointer)

    def current(self) -> Version | None:
        """The version in service, or None before the first run."""
        try:
            target = os.readlink(self.pointer)
        except OSError:
            return None
        path = (self.data_dir / target).resolve()
        return Version(path) if (path / "meta.json").exists() else None

    def linkage_to_carry(self) -> Path:
        """The linkage state a new run starts from, so that persons keep their IDs and
        reviewers' decisions hold: the current version's, else (before the first
        version) the one a run kept in the data folder itself."""
        current = self.current()
        return current.linkage if current is not None else self.data_dir / "linkage"

    def current_id(self) -> str | None:
        """The current version's id, from the link alone (cheap enough to ask per request:
        one system call, no path objects)."""
        try:
            return os.path.basename(os.readlink(self._pointer))
        except OSError:
            return None

    @contextlib.contextmanager
    def build(self, meta: dict[str, Any]) -> Iterator[Version]:
        """A new version's folder; switched to when the block ends, removed if it raises."""
        self.root.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
        partial = self.root / f"{stamp}.partial"
        partial.mkdir()
        version = Version(partial)
        try:
            yield version
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        (partial / "meta.json").write_text(
            json.dumps({**meta, "created_at": stamp}, indent=2, default=str)
        )
        final = self.root / stamp
        partial.rename(final)
        self._point_to(final)
        if "city_identity" in meta:
            (self.data_dir / "city.json").write_text(json.dumps(meta["city_identity"], indent=2))
        self._prune()

    def _point_to(self, version: Path) -> None:
        link = self.data_dir / "current.new"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        link.symlink_to(version.relative_to(self.data_dir))
        link.rename(self.pointer)  # atomic: readers see the old or the new version
        report = self.data_dir / "report"
        if report.is_symlink():
            return
        if report.exists():  # a report folder from before versions
            report.rename(self.data_dir / f"report.before-versions-{version.name}")
        report.symlink_to(Path("current") / "report")

    def _prune(self) -> None:
        done = sorted(p for p in self.root.iterdir() if not p.name.endswith(".partial"))
        current = self.current()
        for old in done[:-KEEP]:
            if current is None or old != current.path:
                shutil.rmtree(old, ignore_errors=True)

    # ------------------------------------------------------------------ the city

    def check_city(self, city: Path, *, replace: bool = False) -> dict[str, str]:
        """Refuse a city other than the one this folder holds, unless ``replace``: then move
        the old city's versions and ledger aside, so the new one starts clean. Returns the
        city's identity, which :meth:`build` records once the run has succeeded."""
        if not city.is_dir():
            raise LinkgraphError(f"{city}: no such city folder")
        marker = self.data_dir / "city.json"
        identity = city_identity(city)
        if marker.exists():
            held = json.loads(marker.read_text())
            if held["fingerprint"] == identity["fingerprint"]:
                return identity
            if not replace:
                raise CityMismatch(
                    f"{self.data_dir} holds the city {held['city']} ({held['fingerprint'][:12]});"
                    f" {city} is another city. Run it with another data folder"
                    " (LINKGRAPH_DATA_DIR), or pass --replace-city to move the old one aside."
                )
            aside = self.data_dir / f"replaced-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}"
            aside.mkdir(parents=True)
            for name in ("versions", "ledger", "current", "report", "linkage", "graph.duckdb"):
                path = self.data_dir / name
                if path.exists() or path.is_symlink():
                    path.rename(aside / name)
            marker.unlink()
        return identity


def city_identity(city: Path) -> dict[str, str]:
    """A city's name and fingerprint: its manifest if it has one, else its file listing."""
    import hashlib

    manifest = city / "manifest.json"
    if manifest.exists():
        text = manifest.read_text()
    else:
        text = "\n".join(
            f"{p.relative_to(city)}:{p.stat().st_size}" for p in sorted(city.rglob("*.parquet"))
        )
    return {
        "city": str(city.resolve()),
        "fingerprint": hashlib.sha256(text.encode()).hexdigest(),
    }


# ------------------------------------------------------------------ evidence by person


def write_events(version: Version, events: pa.Table) -> None:
    """The version's events as an Arrow file sorted by person, each person's rows, and an
    index by event id.

    The live path certifies a few persons at a time from their whole history: the
    file is memory-mapped and each person's events are one zero-copy slice. Events tied
    to no person follow at the end: they are still events the city has received, and a
    channel sending one again with another body is a conflict (:meth:`EventsByPerson.find`).
    Only the person ids and row numbers are sorted (in DuckDB, in parallel); the rows are
    then gathered a slice of the order at a time, so no sorted copy of the whole table is
    ever held (:func:`write_sorted_events` writes them).
    """
    linked = events.select(LINKED_EVENT.names)
    db = duck.connect()
    db.register(
        "ev",
        pa.table({"person_id": linked["person_id"], "i": np.arange(linked.num_rows)}),
    )
    order = db.sql("SELECT i FROM ev ORDER BY person_id NULLS LAST, i").to_arrow_table()["i"]
    db.close()
    write_sorted_events(
        version,
        (
            linked.take(order.slice(start, _GATHER_ROWS))
            for start in range(0, len(order), _GATHER_ROWS)
        ),
    )


def write_sorted_events(version: Version, parts: Iterable[pa.Table | pa.RecordBatch]) -> int:
    """:func:`write_events` of events already sorted by person (ties in any order, events
    tied to no person last), streamed: ``parts`` are written one after the other, in
    order, and only the person ids' runs and the event ids are kept to index them (an
    engine that sorts its events elsewhere, as Spark's workers do, hands them over a part
    at a time; no part is held after it is written). Returns the rows written."""
    persons: list[pa.Array] = []  # each part's persons, run by run
    counts: list[np.ndarray] = []
    event_ids: list[np.ndarray] = []
    rows = 0
    with (
        pa.OSFile(str(version.path / "events.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, LINKED_EVENT) as writer,
    ):
        for part in _at_least(parts, _WRITE_ROWS):
            writer.write_table(part)
            rows += part.num_rows
            runs = pc.run_end_encode(part["person_id"].combine_chunks())
            persons.append(runs.values)
            counts.append(np.diff(runs.run_ends.to_numpy(), prepend=0))
            event_ids.append(part["event_id"].to_numpy())
    person = pa.concat_arrays([pa.array([], pa.string()), *persons])
    n = np.concatenate([np.zeros(0, np.int64), *counts]).astype(np.int64)
    db = duck.connect()  # a person whose rows straddle two parts is one run of the index
    db.register("runs", pa.table({"person_id": person, "n": n, "r": np.arange(len(n))}))
    index = db.sql(
        "SELECT person_id, (sum(sum(n)) OVER (ORDER BY min(r)) - sum(n))::BIGINT AS offset,"
        " sum(n)::BIGINT AS n FROM runs WHERE person_id IS NOT NULL"
        " GROUP BY person_id ORDER BY person_id"
    ).to_arrow_table()
    db.close()
    ids = np.concatenate([np.zeros(0, np.int64), *event_ids])
    del event_ids
    by_id = np.argsort(ids, kind="stable")  # by event id, then row
    version.write_table("event_index", index)
    np.save(version.path / "event_ids.npy", ids[by_id])
    np.save(version.path / "event_rows.npy", by_id.astype(np.int64))
    return rows


def _at_least(parts: Iterable[pa.Table | pa.RecordBatch], rows: int) -> Iterator[pa.Table]:
    """``parts`` as events tables of at least ``rows`` rows (but the last): a stream of
    small batches (Spark's) is written in batches a reader slices cheaply."""
    held: list[pa.Table] = []
    n = 0
    for given in parts:
        part = pa.Table.from_batches([given]) if isinstance(given, pa.RecordBatch) else given
        held.append(part.select(LINKED_EVENT.names).cast(LINKED_EVENT))
        n += part.num_rows
        if n >= rows:
            yield pa.concat_tables(held).combine_chunks()
            held, n = [], 0
    if n:
        yield pa.concat_tables(held).combine_chunks()


def events_of(version: Version) -> pa.Table:
    """The version's events file as one table, memory-mapped (zero-copy: a slice read is
    read from the file, and the pages are the file's, not the process's)."""
    return pa.ipc.open_file(pa.memory_map(str(version.path / "events.arrow"))).read_all()


def events_in_batches(version: Version, columns: list[str]) -> pa.RecordBatchReader:
    """The version's events, ``columns`` only, a record batch at a time (read, not mapped:
    a batch is let go once the reader has moved on)."""
    schema = pa.schema([LINKED_EVENT.field(c) for c in columns])

    def batches() -> Iterator[pa.RecordBatch]:
        with pa.OSFile(str(version.path / "events.arrow")) as source:
            reader = pa.ipc.open_file(source)
            for i in range(reader.num_record_batches):
                yield reader.get_batch(i).select(columns)

    return pa.RecordBatchReader.from_batches(schema, batches())


_GATHER_ROWS = 2_000_000
_WRITE_ROWS = 250_000  # the events file's smallest record batch (but the last)


class EventsByPerson:
    """A version's events, a person at a time, or by event id (see :func:`write_events`)."""

    def __init__(self, version: Version) -> None:
        self.table = events_of(version)
        index = version.table("event_index")
        self.rows = dict(
            zip(
                index["person_id"].to_pylist(),
                zip(index["offset"].to_pylist(), index["n"].to_pylist(), strict=True),
                strict=True,
            )
        )
        self.ids = np.load(version.path / "event_ids.npy", mmap_mode="r")
        self.id_rows = np.load(version.path / "event_rows.npy", mmap_mode="r")

    def of(self, person_ids: list[str]) -> pa.Table:
        slices = [self.table.slice(*self.rows[p]) for p in person_ids if p in self.rows]
        return pa.concat_tables([LINKED_EVENT.empty_table(), *slices])

    def find(self, event_ids: list[int]) -> pa.Table:
        """The version's events with any of ``event_ids``, of whichever channel: a binary
        search of the memory-mapped index, not a scan of the city's events."""
        wanted = np.unique(np.asarray(event_ids, dtype=np.int64))
        lo = np.searchsorted(self.ids, wanted, side="left")
        hi = np.searchsorted(self.ids, wanted, side="right")
        rows = [int(r) for a, b in zip(lo, hi, strict=True) for r in self.id_rows[a:b]]
        return self.table.take(pa.array(sorted(rows), pa.int64()))
