"""Ingest: read departments' rosters and channels' feeds, keep the good rows, name the bad.

A bad row is never silently dropped: it comes back as a :class:`Rejected` that
names the file, the row and the field. A record seen twice (the same roster
re-sent, the same event re-delivered) is kept once, so ingest is idempotent.
Checks are vectorised masks over the whole column; Python only touches the
rejected rows to describe them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds

from linkgraph.catalogue import Catalogue, Identifier
from linkgraph.errors import InputError, unreadable
from linkgraph.tables import EVENT, ROSTER, conform


@dataclass(frozen=True, slots=True)
class Rejected:
    """One refused row: where it was, which field, and why."""

    source: str
    row: int  # 1-based position in its file or batch
    key: str | None
    field: str
    reason: str

    def __str__(self) -> str:
        key = f" ({self.key})" if self.key else ""
        return f"{self.source}, row {self.row}{key}, field {self.field!r}: {self.reason}"


@dataclass
class Ingested:
    """The accepted rows of one kind of feed, and what was refused or repeated."""

    table: pa.Table
    rejected: list[Rejected] = field(default_factory=list)
    repeated: int = 0


#: the rows of a kind of feed that are one: a roster's record, a channel's event
ROSTER_KEYS = ["record_id"]
EVENT_KEYS = ["channel", "event_id"]


#: No record of a living beneficiary or of evidence about them is dated before this day.
EARLIEST_DAY = dt.date(1900, 1, 1)


def day_fault(day: dt.date, received_on: dt.date | None) -> str | None:
    """Why a single day cannot be true (before 1900, or after the day it was received)."""
    if day < EARLIEST_DAY:
        return f"{day} is before {EARLIEST_DAY}"
    if received_on is not None and day > received_on:
        return f"{day} is after the day it was received ({received_on})"
    return None


def _date_rules(
    table: pa.Table, columns: Iterable[str], received_on: dt.date | None
) -> list[tuple[str, str, np.ndarray]]:
    """:func:`day_fault` as column rules: dates before 1900 or after ``received_on``."""
    rules = []
    for name in columns:
        column = table[name]
        early = pc.fill_null(pc.less(column, pa.scalar(EARLIEST_DAY)), False)
        rules.append((name, f"before {EARLIEST_DAY}", _mask(early)))
        if received_on is not None:
            late = pc.fill_null(pc.greater(column, pa.scalar(received_on)), False)
            rules.append((name, f"after the day it was received ({received_on})", _mask(late)))
    return rules


def _mask(expr: pa.ChunkedArray | pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(expr, True).to_numpy(zero_copy_only=False), dtype=bool)


def _blank(column: pa.ChunkedArray) -> np.ndarray:
    return _mask(pc.equal(pc.utf8_trim_whitespace(column), ""))


def _check(
    table: pa.Table, source: str, key: str, rules: Iterable[tuple[str, str, np.ndarray]]
) -> tuple[pa.Table, list[Rejected]]:
    """Apply (field, reason, bad-mask) rules; the first failing rule names a row's fault."""
    bad = np.zeros(table.num_rows, dtype=bool)
    rejected: list[Rejected] = []
    keys = table[key]
    for field_name, reason, mask in rules:
        new = mask & ~bad
        for row in np.flatnonzero(new).tolist():
            value = keys[row].as_py()
            rejected.append(
                Rejected(source, row + 1, None if value is None else str(value), field_name, reason)
            )
        bad |= mask
    rejected.sort(key=lambda r: r.row)
    return (table.filter(pa.array(~bad)) if bad.any() else table), rejected


def first_of_each(table: pa.Table, keys: list[str]) -> tuple[pa.Table, int]:
    """Keep the first row of each key: a re-sent row adds nothing.

    Sorting the key columns finds repeats without hashing every row; a table with
    none (the usual case) is returned as it is, uncopied.
    """
    columns = [
        pc.dictionary_encode(table[k]).combine_chunks().indices
        if pa.types.is_string(table.schema.field(k).type)
        else table[k]
        for k in keys
    ]
    arrays = [np.asarray(c.to_numpy(zero_copy_only=False)) for c in columns]
    order = np.lexsort(arrays[::-1])
    same = np.ones(max(len(order) - 1, 0), dtype=bool)
    for values in arrays:
        ranked = values[order]
        same &= ranked[1:] == ranked[:-1]
    if not same.any():
        return table, 0
    repeat = np.zeros(table.num_rows, dtype=bool)
    repeat[order[1:][same]] = True  # lexsort is stable: the first row of a key stays
    return table.filter(pa.array(~repeat)), int(repeat.sum())


def validate_roster(
    table: pa.Table, catalogue: Catalogue, source: str, received_on: dt.date | None = None
) -> Ingested:
    """Check a roster batch against the catalogue; ``source`` names it in messages.

    Dates must be possible: none before 1900, an enrolment not after ``received_on``
    (when given: the day the batch arrived), and paid until no earlier than enrolled.
    """
    table = conform(table, ROSTER, source)
    items = {i.code: i.department for i in catalogue.benefit_items}
    item_department = pc.index_in(table["item_code"], pa.array(list(items)))
    owner = pa.array(list(items.values())).take(item_department)
    rules = [
        ("record_id", "missing", _blank(table["record_id"])),
        (
            "source",
            "unknown department",
            ~_mask(pc.is_in(table["source"], pa.array(list(catalogue.department)))),
        ),
        ("item_code", "unknown benefit item", _mask(pc.is_null(item_department))),
        (
            "item_code",
            "item not administered by this department",
            _mask(pc.not_equal(owner, table["source"])),
        ),
        (
            "monthly_amount",
            "must be a positive amount",
            _mask(pc.less_equal(table["monthly_amount"], 0)),
        ),
        ("enrolled_on", "missing", _mask(pc.is_null(table["enrolled_on"]))),
        ("paid_until", "missing", _mask(pc.is_null(table["paid_until"]))),
        *_date_rules(table, ["enrolled_on"], received_on),
        *_date_rules(table, ["paid_until"], None),
        (
            "paid_until",
            "before enrolled_on",
            _mask(pc.less(table["paid_until"], table["enrolled_on"])),
        ),
        (
            "name",
            "neither a name nor an ID number: the record names nobody",
            _mask(pc.and_(pc.is_null(table["name"]), pc.is_null(table["id_number"]))),
        ),
    ]
    kept, rejected = _check(table, source, "record_id", rules)
    kept, repeated = first_of_each(kept, ROSTER_KEYS)
    return Ingested(kept, rejected, repeated)


def validate_events(
    table: pa.Table, catalogue: Catalogue, source: str, received_on: dt.date | None = None
) -> Ingested:
    """Check an evidence batch: known channel, dates possible and in order (none before
    1900, none after ``received_on`` when given), the channel's identifier present."""
    table = conform(table, EVENT, source)
    codes = list(catalogue.channel)
    identifier = pa.array([catalogue.channel[c].identifier.value for c in codes]).take(
        pc.index_in(table["channel"], pa.array(codes))
    )
    present = {
        Identifier.ID_NUMBER.value: pc.is_valid(table["id_number"]),
        Identifier.SSCARD_NO.value: pc.is_valid(table["sscard_no"]),
        Identifier.PHONE.value: pc.is_valid(table["phone"]),
        Identifier.NAME_DOB.value: pc.and_(
            pc.is_valid(table["name"]), pc.is_valid(table["birth_date"])
        ),
    }
    has_identifier = pa.scalar(False)
    for kind, valid in present.items():
        has_identifier = pc.or_(has_identifier, pc.and_(pc.equal(identifier, kind), valid))
    rules = [
        ("event_id", "missing", _mask(pc.is_null(table["event_id"]))),
        ("channel", "unknown channel", _mask(pc.is_null(identifier))),
        ("occurred_on", "missing", _mask(pc.is_null(table["occurred_on"]))),
        ("reported_on", "missing", _mask(pc.is_null(table["reported_on"]))),
        *_date_rules(table, ["occurred_on", "reported_on"], received_on),
        (
            "reported_on",
            "reported before it occurred",
            _mask(pc.less(table["reported_on"], table["occurred_on"])),
        ),
        ("identifier", "the channel's identifier is missing", ~_mask(has_identifier)),
    ]
    kept, rejected = _check(table, source, "event_id", rules)
    kept, repeated = first_of_each(kept, EVENT_KEYS)
    return Ingested(kept, rejected, repeated)


def feed_files(directory: Path) -> list[Path]:
    """The feed files of a directory, in the order they are read (Parquet, else CSV)."""
    if not directory.is_dir():
        raise InputError(f"{directory}: not a directory")
    files = sorted(directory.glob("*.parquet")) or sorted(directory.glob("*.csv"))
    if not files:
        raise InputError(f"{directory}: no .parquet or .csv files")
    return files


def read_feed(path: Path) -> pa.Table:
    """One feed file; a file that cannot be read as its kind is an error naming it."""
    kind = "parquet" if path.suffix == ".parquet" else "csv"
    try:
        return ds.dataset(path, format=kind).to_table()
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise unreadable(path, kind, exc) from exc


def _read_dir(directory: Path) -> list[tuple[str, pa.Table]]:
    return [(f.name, read_feed(f)) for f in feed_files(directory)]


def _combine(parts: list[Ingested], keys: list[str]) -> Ingested:
    table = pa.concat_tables([p.table for p in parts]) if parts else pa.table({})
    table, repeated = first_of_each(table, keys)
    return Ingested(
        table,
        [r for p in parts for r in p.rejected],
        sum(p.repeated for p in parts) + repeated,
    )


def read_rosters(directory: Path, catalogue: Catalogue) -> Ingested:
    """Every department's roster file under ``directory``, validated and de-duplicated."""
    parts = [validate_roster(t, catalogue, name) for name, t in _read_dir(directory)]
    return _combine(parts, ROSTER_KEYS)


def read_events(directory: Path, catalogue: Catalogue) -> Ingested:
    """Every channel's feed under ``directory``, validated and de-duplicated."""
    parts = [validate_events(t, catalogue, name) for name, t in _read_dir(directory)]
    return _combine(parts, EVENT_KEYS)
