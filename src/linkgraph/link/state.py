"""Linkage state on disk: persons, events, reviewer overrides, the model, the records.

Layout under the state directory (default ``get_settings().data_dir / "linkage"``)::

    CURRENT                 name of the live version directory (replaced atomically)
    v000003/persons.parquet record_id, person_id, band, match_probability
    v000003/events.parquet  every create / merge / split / retire, with run and time
    v000003/records.parquet the mapped input records of that run
    v000003/decisions.parquet the clustering's guard rails at work: records kept apart
                            or sent to review, the rule and its evidence
    v000003/model.json      m, u, prior;  v000003/meta.json  mapping, id counter, and
                            per term-frequency column its total and mean agreement chance
    v000003/terms.parquet   column, value, count: the value frequencies the model's
                            term-frequency adjustments read (so one pair is explained
                            without preparing every record again)
    overrides.parquet       reviewer decisions (force link / apart), who, when, why

A run writes a whole new version directory, then renames a temp file over
``CURRENT``: a crash at any point leaves the previous state live.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

#: rows per row group of the files read by key (records, terms, decisions): written sorted
#: by that key, a filtered read decodes only the groups whose range holds a wanted key, so
#: ``linkgraph explain`` reads a few groups of a city's records, not all of them
ROWS_PER_GROUP = 32_768

PERSONS_SCHEMA = pa.schema(
    [
        ("record_id", pa.string()),
        ("person_id", pa.string()),
        ("band", pa.string()),
        ("match_probability", pa.float64()),
    ]
)
EVENTS_SCHEMA = pa.schema(
    [
        ("run", pa.int64()),
        ("at", pa.timestamp("s", tz="UTC")),
        ("event", pa.string()),  # create | merge | split | retire | attach
        ("person_id", pa.string()),
        ("other_person_ids", pa.list_(pa.string())),
        ("records", pa.int64()),
        ("detail", pa.string()),
    ]
)
OVERRIDES_SCHEMA = pa.schema(
    [
        ("decision", pa.string()),  # link | apart
        ("record_a", pa.string()),
        ("record_b", pa.string()),
        ("who", pa.string()),
        ("at", pa.timestamp("s", tz="UTC")),
        ("why", pa.string()),
        ("effect", pa.string()),  # what it changed, as previewed when it was taken
    ]
)


def default_state_dir() -> Path:
    """The linkage state of the current version (before any run, ``<data_dir>/linkage``):
    where reviewer decisions must land for the next run to honour them."""
    from linkgraph.config import get_settings
    from linkgraph.versions import Versions

    data_dir = Path(get_settings().data_dir)
    version = Versions(data_dir).current()
    return version.linkage if version else data_dir / "linkage"


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _write_sorted(path: Path, table: pa.Table, key: str) -> None:
    """``table`` sorted by ``key`` (left as it is when it already is: rosters come in the
    order of their record ids), in row groups of :data:`ROWS_PER_GROUP`."""
    column = table.column(key)
    if len(column) > 1 and not pc.all(pc.less_equal(column[:-1], column[1:])).as_py():
        table = table.take(pc.sort_indices(column))
    pq.write_table(
        table, path, row_group_size=ROWS_PER_GROUP, use_dictionary=_repeating_columns(table)
    )


def _repeating_columns(table: pa.Table, sample: int = 4096) -> list[str]:
    """Columns whose values repeat (in an even sample of rows, fewer distinct values than
    half the rows): dictionary-encoded in Parquet. The others (record ids, ID numbers)
    are written plain, which is faster and no bigger."""
    if table.num_rows <= sample:
        return table.column_names
    rows = table.take(pa.array(range(0, table.num_rows, table.num_rows // sample)))
    half = rows.num_rows // 2
    return [n for n in rows.column_names if pc.count_distinct(rows[n]).as_py() < half]


def _atomic_write_table(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        pq.write_table(table, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


@dataclass
class Snapshot:
    """One version of the state, as read from or about to be written to disk."""

    persons: pa.Table
    events: pa.Table
    records: pa.Table | None = None
    decisions: pa.Table | None = None
    terms: pa.Table | None = None
    model: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def run(self) -> int:
        return int(self.meta.get("run", 0))

    @property
    def next_person(self) -> int:
        return int(self.meta.get("next_person", 1))


class StateStore:
    """Reads and atomically writes linkage state under one directory."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path is not None else default_state_dir()

    # ------------------------------------------------------------ versions

    def _current(self) -> Path | None:
        pointer = self.path / "CURRENT"
        if not pointer.exists():
            return None
        version = self.path / pointer.read_text().strip()
        return version if version.is_dir() else None

    def exists(self) -> bool:
        return self._current() is not None

    def load(self, with_records: bool = True) -> Snapshot | None:
        version = self._current()
        if version is None:
            return None
        records = None
        if with_records and (version / "records.parquet").exists():
            records = pq.read_table(version / "records.parquet")
        decisions, terms = (
            pq.read_table(version / f"{part}.parquet")
            if (version / f"{part}.parquet").exists()
            else None
            for part in ("decisions", "terms")
        )
        return Snapshot(
            persons=pq.read_table(version / "persons.parquet"),
            events=pq.read_table(version / "events.parquet").cast(EVENTS_SCHEMA),
            records=records,
            decisions=decisions,
            terms=terms,
            model=json.loads((version / "model.json").read_text(encoding="utf-8")),
            meta=json.loads((version / "meta.json").read_text(encoding="utf-8")),
        )

    def meta_and_model(self) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """The live version's meta and model only (no tables read)."""
        version = self._current()
        if version is None:
            return None
        return (
            json.loads((version / "meta.json").read_text(encoding="utf-8")),
            json.loads((version / "model.json").read_text(encoding="utf-8")),
        )

    def rows(self, name: str, column: str, values: list[str]) -> pa.Table | None:
        """Rows of the live version's ``name``.parquet whose ``column`` is among ``values``.

        Only the row groups whose range of ``column`` holds a wanted value are decoded
        (the files are written sorted by it); read without ``pyarrow.dataset``, whose
        import alone (pandas with it) costs a quarter of a second."""
        version = self._current()
        if version is None or not (version / f"{name}.parquet").exists():
            return None
        parquet = pq.ParquetFile(version / f"{name}.parquet")
        leaf = parquet.schema_arrow.get_field_index(column)
        wanted = pa.array(values, pa.string()).cast(parquet.schema_arrow.field(leaf).type)
        values = wanted.to_pylist()  # in the column's type (record ids may be numbers)
        groups = []
        for g in range(parquet.num_row_groups):
            stats = parquet.metadata.row_group(g).column(leaf).statistics
            if (
                stats is None
                or not stats.has_min_max
                or any(stats.min <= v <= stats.max for v in values)
            ):
                groups.append(g)
        table = parquet.read_row_groups(groups)
        return table.filter(pc.is_in(table.column(column), wanted))

    def save(self, snap: Snapshot) -> Path:
        """Write ``snap`` as a new version, then switch ``CURRENT`` to it atomically."""
        self.path.mkdir(parents=True, exist_ok=True)
        name = f"v{snap.run:06d}"
        final = self.path / name
        tmpdir = Path(tempfile.mkdtemp(dir=self.path, prefix=f".{name}."))
        try:
            writes = [
                partial(pq.write_table, snap.persons, tmpdir / "persons.parquet"),
                partial(pq.write_table, snap.events, tmpdir / "events.parquet"),
            ]
            if snap.records is not None:
                record_id = snap.meta["mapping"]["record_id"]
                writes.append(
                    partial(_write_sorted, tmpdir / "records.parquet", snap.records, record_id)
                )
            for part, table, key in (
                ("decisions", snap.decisions, "record_a"),
                ("terms", snap.terms, "value"),
            ):
                if table is not None:
                    writes.append(partial(_write_sorted, tmpdir / f"{part}.parquet", table, key))
            # Parquet encoding releases the GIL: the parts are written side by side
            with ThreadPoolExecutor(max_workers=2) as pool:
                for done in [pool.submit(write) for write in writes]:
                    done.result()
            (tmpdir / "model.json").write_text(json.dumps(snap.model, ensure_ascii=False))
            (tmpdir / "meta.json").write_text(json.dumps(snap.meta, ensure_ascii=False))
            if final.exists():
                shutil.rmtree(final)
            os.replace(tmpdir, final)
        except BaseException:
            shutil.rmtree(tmpdir, ignore_errors=True)
            raise
        previous = self._current()
        _atomic_write_bytes(self.path / "CURRENT", name.encode())
        for old in sorted(self.path.glob("v[0-9]*")):
            if old not in (final, previous):
                shutil.rmtree(old, ignore_errors=True)
        return final

    # ------------------------------------------------------------ overrides

    def overrides(self) -> pa.Table:
        path = self.path / "overrides.parquet"
        if not path.exists():
            return OVERRIDES_SCHEMA.empty_table()
        table = pq.read_table(path)
        if "effect" not in table.column_names:  # kept before effects were recorded
            table = table.append_column("effect", pa.nulls(table.num_rows, pa.string()))
        return table.select(OVERRIDES_SCHEMA.names).cast(OVERRIDES_SCHEMA)

    def add_override(
        self, decision: str, record_a: str, record_b: str, who: str, why: str, effect: str = ""
    ) -> None:
        """Append a reviewer decision (``link`` or ``apart``), audited with who/when/why and
        the effect it was shown to have."""
        if not who or not why:
            raise ValueError("a reviewer decision needs who and why")
        _atomic_write_table(
            self.path / "overrides.parquet",
            pa.concat_tables(
                [self.overrides(), override_row(decision, record_a, record_b, who, why, effect)]
            ),
        )


def override_row(
    decision: str, record_a: str, record_b: str, who: str, why: str, effect: str = ""
) -> pa.Table:
    """One reviewer decision as a row of :data:`OVERRIDES_SCHEMA`."""
    if decision not in ("link", "apart"):
        raise ValueError(f"decision {decision!r}: allowed decisions are link, apart")
    return pa.table(
        {
            "decision": [decision],
            "record_a": [record_a],
            "record_b": [record_b],
            "who": [who],
            "at": pa.array([now()], pa.timestamp("s", tz="UTC")),
            "why": [why],
            "effect": [effect],
        },
        schema=OVERRIDES_SCHEMA,
    )


def effective_overrides(table: pa.Table) -> dict[frozenset[str], str]:
    """The latest decision per record pair: ``{frozenset({a, b}): "link" | "apart"}``."""
    out: dict[frozenset[str], str] = {}
    for d, a, b in zip(
        table.column("decision").to_pylist(),
        table.column("record_a").to_pylist(),
        table.column("record_b").to_pylist(),
        strict=True,
    ):
        out[frozenset((a, b))] = d
    return out
