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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
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
    ever held.
    """
    linked = events.select(LINKED_EVENT.names)
    db = duck.connect()
    db.register(
        "ev",
        pa.table(
            {
                "person_id": linked["person_id"],
                "event_id": linked["event_id"],
                "i": np.arange(linked.num_rows),
            }
        ),
    )
    order = db.sql("SELECT i FROM ev ORDER BY person_id NULLS LAST, i").to_arrow_table()["i"]
    index = db.sql(
        "SELECT person_id, (sum(count(*)) OVER (ORDER BY person_id) - count(*))::BIGINT"
        " AS offset, count(*)::BIGINT AS n FROM ev WHERE person_id IS NOT NULL"
        " GROUP BY person_id ORDER BY person_id"
    ).to_arrow_table()
    db.close()
    # by event id, then row: the ids in row order, sorted stably (no second sort of the
    # person ids in DuckDB beside the tables the run holds)
    ids_by_row = linked["event_id"].take(order).to_numpy()
    rows = np.argsort(ids_by_row, kind="stable")
    event_ids = ids_by_row[rows]
    del ids_by_row
    with (
        pa.OSFile(str(version.path / "events.arrow"), "wb") as sink,
        pa.ipc.new_file(sink, LINKED_EVENT) as writer,
    ):
        for start in range(0, len(order), _GATHER_ROWS):
            part = linked.take(order.slice(start, _GATHER_ROWS))
            writer.write_table(part.cast(LINKED_EVENT))
    version.write_table("event_index", index)
    np.save(version.path / "event_ids.npy", event_ids)
    np.save(version.path / "event_rows.npy", rows.astype(np.int64, copy=False))


_GATHER_ROWS = 2_000_000


class EventsByPerson:
    """A version's events, a person at a time, or by event id (see :func:`write_events`)."""

    def __init__(self, version: Version) -> None:
        source = pa.memory_map(str(version.path / "events.arrow"))
        self.table = pa.ipc.open_file(source).read_all()
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
