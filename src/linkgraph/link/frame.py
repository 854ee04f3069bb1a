"""Prepared records: every compared field normalised once and dictionary-encoded.

A :class:`Frame` holds, per derived column, the normalised strings (``pa.Array``),
integer codes (``-1`` for null) and the distinct values, so that exact agreement
is an integer comparison and fuzzy scorers run on distinct value pairs only.

    raw "王 秀英"  ->  name "王秀英", name__py "wang xiu ying"
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.link.mapping import LinkMapping

PINYIN = "__py"
STATUS = "__status"
BODY = "__body"
SEX = "__sex"


@dataclass
class Column:
    """One prepared column: normalised values, their codes and the distinct values."""

    values: pa.Array
    codes: np.ndarray  # int32, -1 = null
    uniques: np.ndarray  # object array of str
    _index: dict[str, int] | None = field(default=None, repr=False)
    _counts: np.ndarray | None = field(default=None, repr=False)
    _bins: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    @classmethod
    def from_array(cls, values: pa.Array | pa.ChunkedArray) -> Column:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        values = _blank_to_null(values.cast(pa.string()))
        encoded = pc.dictionary_encode(values)
        codes = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)
        uniques = np.array(encoded.dictionary.to_pylist(), dtype=object)
        return cls(values=values, codes=codes, uniques=uniques)

    def index(self) -> dict[str, int]:
        """Value -> code, built on first use (incremental look-ups)."""
        if self._index is None:
            self._index = {v: i for i, v in enumerate(self.uniques.tolist())}
        return self._index

    def counts(self) -> np.ndarray:
        """How many records hold each distinct value."""
        if self._counts is None:
            ok = self.codes[self.codes >= 0]
            self._counts = np.bincount(ok, minlength=len(self.uniques))
        return self._counts

    def char_bins(self) -> tuple[np.ndarray, np.ndarray]:
        """Per distinct value, how many of its characters fall in each of 16 bins (code
        point mod 16), and its length in characters; -1 where over 255. Two values'
        bins bound their edit distance from below (:func:`levels.bag_distance`)."""
        if self._bins is None:
            n = len(self.uniques)
            offsets, raw = string_bytes(pa.array(self.uniques, pa.string()))
            owner = np.repeat(np.arange(n, dtype=np.int32), np.diff(offsets))
            # A code point mod 16 is the low 4 bits of its character's last UTF-8 byte; a
            # byte ends a character unless the next one continues it (10xxxxxx).
            ends = np.ones(raw.size, dtype=bool)
            ends[:-1] = (raw[1:] & 0xC0) != 0x80
            if ends.all():
                length = np.diff(offsets).astype(np.int32)
            else:
                owner, raw = owner[ends], raw[ends]
                length = np.bincount(owner, minlength=n).astype(np.int32)
            bins = np.bincount(owner * 16 + (raw & 15), minlength=n * 16)
            length[length > 255] = -1
            self._bins = (bins.reshape(n, 16).astype(np.uint8), length)
        return self._bins

    def translate(self, other: Column) -> np.ndarray:
        """This column's codes expressed in ``other``'s code space (-2 when unseen there)."""
        if self is other:
            return self.codes
        idx = other.index()
        mapped = np.array([idx.get(v, -2) for v in self.uniques.tolist()], dtype=np.int32)
        out = np.full(len(self.codes), -1, dtype=np.int32)
        ok = self.codes >= 0
        out[ok] = mapped[self.codes[ok]]
        return out


def distinct_pairs(
    left: np.ndarray, right: np.ndarray, base: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct pairs of codes ``(left, right)`` (each ``< base``) as two arrays, and
    per input pair the index of its distinct pair: work per pair of values, not per pair
    of records. Keyed in int64: two int32 codes past 46,340 values overflow int32 and wrap
    round to another pair."""
    key = left.astype(np.int64) * base + right
    distinct, inverse = np.unique(key, return_inverse=True)
    return distinct // base, distinct % base, inverse


def string_bytes(arr: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """A string array's UTF-8 bytes, and where each value starts and ends in them
    (``len(arr) + 1`` offsets from 0), without copying the bytes."""
    bufs = arr.buffers()
    if bufs[1] is None:  # an empty array may carry no offsets
        return np.zeros(1, dtype=np.int64), np.empty(0, dtype=np.uint8)
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset : arr.offset + len(arr) + 1]
    data = np.frombuffer(bufs[2], dtype=np.uint8) if bufs[2] is not None else np.empty(0, np.uint8)
    return offsets.astype(np.int64) - offsets[0], data[offsets[0] : offsets[-1]]


def _blank_to_null(arr: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(arr)
    return pc.if_else(pc.equal(pc.utf8_length(trimmed), 0), pa.scalar(None, pa.string()), trimmed)


@dataclass
class Frame:
    """Prepared records: record ids, optional sources, raw and derived columns."""

    record_id: np.ndarray  # object array of str
    columns: dict[str, Column]
    raw: pa.Table
    source: np.ndarray | None = None
    kinds: dict[str, str] = field(default_factory=dict)  # mapped field -> kind
    chinese_id: dict[str, bool] = field(default_factory=dict)
    _cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    def cached(self, key: Any, compute: Callable[[], Any]) -> Any:
        """Memoise a derived array (e.g. a column's key hashes) on this frame."""
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def __len__(self) -> int:
        return len(self.record_id)

    def col(self, name: str) -> Column:
        return self.columns[name]

    def has(self, name: str) -> bool:
        return name in self.columns


# --------------------------------------------------------------------------- normalisers


def _lower(arr: pa.Array) -> pa.Array:
    """``"  North  Ryde "`` -> ``"north ryde"``."""
    arr = pc.utf8_lower(pc.utf8_normalize(arr.cast(pa.string()), "NFKC"))
    return pc.utf8_trim_whitespace(pc.replace_substring_regex(arr, r"\s+", " "))


def _normaliser(name: str) -> Callable[[pa.Array], pa.Array] | None:
    try:
        from linkgraph import normalise
    except ImportError:  # pragma: no cover - normalise ships with the package
        return None
    fn = getattr(normalise, name, None)
    return fn if callable(fn) else None


def _digits(arr: pa.Array) -> pa.Array:
    return pc.replace_substring_regex(arr.cast(pa.string()), r"[^0-9]", "")


def _date_text(arr: pa.Array) -> pa.Array:
    """Dates as ``YYYYMMDD`` text (via ``normalise.dates`` when available)."""
    fn = _normaliser("dates")
    if fn is not None:
        try:
            encoded = pc.dictionary_encode(arr)  # a city's birth dates: few distinct values
            parsed = fn(encoded.dictionary)
            if pa.types.is_date(parsed.type) or pa.types.is_timestamp(parsed.type):
                return pc.strftime(parsed, format="%Y%m%d").take(encoded.indices)
        except Exception:
            pass
    return _digits(arr)


def _norm(fn_name: str, arr: pa.Array, fallback: Callable[[pa.Array], pa.Array]) -> pa.Array:
    fn = _normaliser(fn_name)
    if fn is None:
        return fallback(arr)
    out = fn(arr)
    if isinstance(out, pa.ChunkedArray):
        out = out.combine_chunks()
    return out.cast(pa.string())


def _looks_chinese_id(values: pa.Array) -> bool:
    lengths = pc.utf8_length(pc.drop_null(values)).to_numpy(zero_copy_only=False)
    if len(lengths) == 0:
        return False
    return bool(np.mean((lengths == 18) | (lengths == 15)) >= 0.5)


def prepare(
    table: pa.Table, mapping: LinkMapping, chinese_id: dict[str, bool] | None = None
) -> Frame:
    """Normalise every mapped field of ``table`` once, columnar.

    ``chinese_id`` fixes, per national_id field, whether values are read as Chinese
    resident IDs (otherwise decided from the data: most values 15 or 18 characters).

    Derived columns: ``<field>`` (normalised), ``<name>__py`` (pinyin key),
    ``<id>__status`` (Chinese resident IDs: "valid" when the check character verifies) and
    ``<id>__body`` (their first 17 characters, without the check character) and
    ``<id>__sex`` (the sex the 17th digit encodes: odd = "M").
    """
    mapping.check_columns(table.column_names)
    columns: dict[str, Column] = {}
    chinese: dict[str, bool] = {}
    fields = list(mapping.fields.items())
    work = [(col, kind, table.column(col), chinese_id) for col, kind in fields]
    if len(table) >= PARALLEL_ROWS:
        # pyarrow kernels release the GIL: one field's kernels overlap another's Python.
        # Names and addresses, whose normalisers are mostly Python, start first, so the
        # other fields' kernels fill the second core beside them rather than after them;
        # the record ids are read meanwhile, while the two wait for the GIL.
        order = sorted(range(len(work)), key=lambda i: work[i][1] not in GIL_BOUND_KINDS)
        with ThreadPoolExecutor(max_workers=2) as pool:
            prepared = pool.map(lambda i: _prepare_field(*work[i]), order)
            record_id, source = _record_ids(table, mapping)
            done = dict(zip(order, prepared, strict=True))
        results = [done[i] for i in range(len(work))]
    else:
        record_id, source = _record_ids(table, mapping)
        results = [_prepare_field(*w) for w in work]
    for (col, _), (cols, is_chinese) in zip(fields, results, strict=True):
        columns.update(cols)
        if is_chinese is not None:
            chinese[col] = is_chinese
    return Frame(
        record_id=record_id,
        columns=columns,
        raw=table,
        source=source,
        kinds=dict(mapping.fields),
        chinese_id=chinese,
    )


PARALLEL_ROWS = 50_000


def _record_ids(table: pa.Table, mapping: LinkMapping) -> tuple[np.ndarray, np.ndarray | None]:
    """The record ids (present and unique, else a mapping error) and the sources."""
    rid = table.column(mapping.record_id).cast(pa.string()).combine_chunks()
    if rid.null_count:
        raise_missing(mapping.record_id)
    if len(pc.unique(rid)) != len(rid):
        from linkgraph.link.mapping import MappingError

        raise MappingError(f"field 'record_id': column {mapping.record_id!r} has duplicate ids")
    source = None
    if mapping.source is not None:
        source = table.column(mapping.source).cast(pa.string()).to_numpy(zero_copy_only=False)
    return rid.to_numpy(zero_copy_only=False), source


GIL_BOUND_KINDS = ("address", "name")


def _prepare_field(
    col: str, kind: str, raw: pa.ChunkedArray | pa.Array, chinese_id: dict[str, bool] | None
) -> tuple[dict[str, Column], bool | None]:
    """One mapped field's derived columns, and for an ID field whether it is Chinese."""
    arr = raw.combine_chunks() if isinstance(raw, pa.ChunkedArray) else raw
    arr = arr.cast(pa.string()) if not pa.types.is_string(arr.type) else arr
    out: dict[str, Column] = {}
    if kind == "national_id":
        cleaned = pc.utf8_upper(pc.replace_substring_regex(arr, r"[\s\-']", ""))
        fn = _normaliser("resident_ids")
        is_chinese = (
            chinese_id[col]
            if chinese_id is not None and col in chinese_id
            else _looks_chinese_id(cleaned)
        )
        if fn is None or not is_chinese:
            out[col] = Column.from_array(cleaned)
            return out, False
        ids: Any = fn(arr)
        # "valid" = an 18-character number whose MOD 11-2 check character verifies, also
        # when only its spelling was repaired (lower-case x, spaces); a 15-digit number
        # upgraded to 18 has no check character of its own and is not.
        status = ids.column("id_status").combine_chunks()
        verified = pc.and_(
            pc.is_in(status, pa.array(["valid", "repaired"])),
            pc.equal(pc.utf8_length(cleaned), 18),
        )
        status = pc.if_else(pc.fill_null(verified, False), "valid", status)
        out[col + STATUS] = Column.from_array(status)
        value = pc.coalesce(ids.column("id_number").combine_chunks(), cleaned)
        out[col] = Column.from_array(value)
        out[col + BODY] = Column.from_array(pc.utf8_slice_codeunits(value, 0, 17))
        out[col + SEX] = Column.from_array(ids.column("id_gender"))  # 17th digit: odd = male
        return out, True
    if kind == "name":
        out[col] = Column.from_array(_norm("names", arr, _lower))
        py = _normaliser("pinyin_keys")
        # pinyin of the normalised names: fewer distinct values than the raw ones
        out[col + PINYIN] = Column.from_array(
            py(out[col].values) if py is not None else out[col].values
        )
    elif kind == "date":
        out[col] = Column.from_array(_date_text(arr))
    elif kind == "phone":
        out[col] = Column.from_array(_norm("phones", arr, _digits))
    elif kind == "address":
        out[col] = Column.from_array(_norm("addresses", arr, _lower))
    else:  # text, category
        out[col] = Column.from_array(_lower(arr))
    return out, None


def raise_missing(column: str) -> None:
    from linkgraph.link.mapping import MappingError

    raise MappingError(f"field 'record_id': column {column!r} has empty values")


# --------------------------------------------------------------------------- one record

_WS_RE = re.compile(r"\s+")
_ID_JUNK_RE = re.compile(r"[\s\-']")


def _blank(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip()
    return value or None


def _one(value: str | None) -> Column:
    value = _blank(value)
    return Column(
        values=pa.array([value], pa.string()),
        codes=np.array([-1 if value is None else 0], dtype=np.int32),
        uniques=np.array([] if value is None else [value], dtype=object),
    )


def _lower_one(value: str) -> str:
    return _WS_RE.sub(" ", unicodedata.normalize("NFKC", value).lower()).strip()


def prepare_one(record: dict[str, Any], mapping: LinkMapping, chinese_id: dict[str, bool]) -> Frame:
    """:func:`prepare` for a single record with the scalar normalisers (same results).

    ``{"rid": "r1", "nm": "王 秀英", ...}`` -> a one-row :class:`Frame`.
    """
    from linkgraph import normalise as nz

    def text(col: str) -> str | None:
        v = record.get(col)
        return None if v is None else str(v)

    rid = text(mapping.record_id)
    if rid is None:
        raise_missing(mapping.record_id)
    columns: dict[str, Column] = {}
    raw_row: dict[str, list[str | None]] = {}
    for col, kind in mapping.fields.items():
        raw = text(col)
        raw_row[col] = [raw]
        if kind == "national_id":
            cleaned = None if raw is None else _ID_JUNK_RE.sub("", raw).upper()
            if chinese_id.get(col):
                parsed = nz.resident_id(raw)
                status: str = parsed.status
                if status in ("valid", "repaired") and cleaned is not None and len(cleaned) == 18:
                    status = "valid"
                columns[col + STATUS] = _one(status)
                value = parsed.value if parsed.value is not None else cleaned
                columns[col] = _one(value)
                columns[col + BODY] = _one(None if value is None else value[:17])
                columns[col + SEX] = _one(parsed.gender)
            else:
                columns[col] = _one(cleaned)
        elif kind == "name":
            normal = _blank(nz.name(raw))
            columns[col] = _one(normal)
            columns[col + PINYIN] = _one(nz.pinyin_key(normal))
        elif kind == "date":
            d = nz.date(raw)
            columns[col] = _one(None if d is None else d.strftime("%Y%m%d"))
        elif kind == "phone":
            columns[col] = _one(nz.phone(raw))
        elif kind == "address":
            columns[col] = _one(nz.address(raw))
        else:
            columns[col] = _one(None if raw is None else _lower_one(raw))
    keep = [mapping.record_id] + ([mapping.source] if mapping.source else [])
    for col in keep:
        raw_row[col] = [text(col)]
    source = None
    if mapping.source is not None:
        source = np.array([text(mapping.source)], dtype=object)
    return Frame(
        record_id=np.array([rid], dtype=object),
        columns=columns,
        raw=pa.table({c: pa.array(v, pa.string()) for c, v in raw_row.items()}),
        source=source,
        kinds=dict(mapping.fields),
        chinese_id={
            c: bool(chinese_id.get(c)) for c, k in mapping.fields.items() if k == "national_id"
        },
    )
