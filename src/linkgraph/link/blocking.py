"""Blocking: candidate pairs from records sharing a key, generated columnar.

A rule's key is built with pyarrow string kernels from prepared columns (optionally a
slice of each), dictionary-encoded to integer codes; pairs inside each key group
come from one vectorised ``repeat``/``arange`` expansion, never a Python loop per row.

    ID "341221194901011234" blocks, with one part dropped each time, on
    "341221|0101|1234", "341221|1949|1234", ... so one wrong digit still meets.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.link.frame import PINYIN, Column, Frame, string_bytes

DEFAULT_MAX_BLOCK = 100
MIN_CATEGORY_VALUES = 50


@dataclass(frozen=True)
class BlockingRule:
    """Records whose key parts are all non-null and equal become candidate pairs."""

    name: str
    parts: tuple[tuple[str, int | None, int | None], ...]  # (column, start, stop)
    comparisons: tuple[str, ...]  # comparisons whose agreement the rule implies
    train: bool = False  # used as an EM training session
    length: int | None = None  # only for values of the first part's column of this length

    def key_codes(self, frame: Frame) -> np.ndarray:
        """A 63-bit hash of the key per record, -1 where any part is null or empty.

        Content-based, so keys of two frames (a city and one new record) compare.
        """
        key = np.zeros(len(frame), dtype=np.uint64)
        valid = np.ones(len(frame), dtype=bool)
        with np.errstate(over="ignore"):
            for col, start, stop in self.parts:
                h, ok, full = frame.cached(
                    ("hash", col, start, stop),
                    functools.partial(hash_column, frame.col(col), start or 0, stop),
                )
                key = key * _MIX + h
                valid &= ok
                if self.length is not None and col == self.parts[0][0]:
                    valid &= full == self.length
        out = (key & np.uint64(0x7FFF_FFFF_FFFF_FFFF)).astype(np.int64)
        out[~valid] = -1
        return out


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def hash_column(
    column: Column, start: int = 0, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`hash_strings` per record, each distinct value hashed once (a city's birth
    dates are a few thousand values among a million records)."""
    n = len(column.codes)
    if len(column.uniques) == 0:
        return np.zeros(n, dtype=np.uint64), np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)
    h, ok, full = hash_strings(pa.array(column.uniques, pa.string()), start, stop)
    present = column.codes >= 0
    code = np.where(present, column.codes, 0)
    return h[code], ok[code] & present, full[code]


def hash_strings(
    values: pa.Array, start: int = 0, stop: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FNV-1a of each value's bytes ``[start:stop]``, vectorised over the column.

    Returns (hash uint64, non-empty and non-null, full byte length).  Slices count
    bytes, which for the ASCII identifiers sliced here are characters.
    """
    arr = values.cast(pa.string())
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    n = len(arr)
    offsets, data = string_bytes(arr)
    if len(data) == 0:
        data = np.zeros(1, np.uint8)
    length = offsets[1:] - offsets[:-1]
    lo = np.minimum(start, length)
    hi = length if stop is None else np.minimum(stop, length)
    width = hi - lo
    h = np.full(n, _FNV_OFFSET, dtype=np.uint64)
    base = offsets[:-1] + lo
    with np.errstate(over="ignore"):
        for j in range(int(width.max()) if n else 0):
            live = width > j
            byte = data[np.minimum(base + j, len(data) - 1)].astype(np.uint64)
            h = np.where(live, (h ^ byte) * _FNV_PRIME, h)
        h = (h ^ width.astype(np.uint64)) * _FNV_PRIME
    valid = width > 0
    if arr.null_count:
        valid &= arr.is_valid().to_numpy(zero_copy_only=False)
    return h, valid, length


def default_rules(frame: Frame) -> list[BlockingRule]:
    """Blocking rules for a frame's mapped fields (see module docstring)."""
    rules: list[BlockingRule] = []
    kinds = frame.kinds
    names = [c for c, k in kinds.items() if k == "name"]
    dates = [c for c, k in kinds.items() if k == "date"]
    cats = [c for c, k in kinds.items() if k == "category"]
    ids = [c for c, k in kinds.items() if k == "national_id"]
    primary = next((c for c in ids if frame.chinese_id.get(c)), ids[0] if ids else None)
    for col, kind in kinds.items():
        if kind == "national_id":
            # only the primary ID trains m: bank accounts, phones are shared within households
            train = col == primary
            rules.append(BlockingRule(f"{col} exact", ((col, None, None),), (col,), train=train))
            if frame.chinese_id.get(col):
                # GB 11643-1999 layout: region(0:6) year(6:10) month-day(10:14) seq(14:17)
                # check(17).  A key drops one part, so one wrong digit still meets; the
                # second cut has no boundary in common with the first, so a swap of two
                # adjacent digits lies inside one part of at least one of them.
                for cut, bounds in enumerate(((6, 10, 14, 17), (3, 8, 12, 15))):
                    edges = [0, *bounds, 18]
                    parts = list(itertools.pairwise(edges))
                    for drop in range(len(parts)):
                        kept = tuple((col, a, b) for i, (a, b) in enumerate(parts) if i != drop)
                        name = f"{col} cut {cut} without {parts[drop][0]}:{parts[drop][1]}"
                        rules.append(BlockingRule(name, kept, (), length=18))
            elif col == primary:
                # three parts; a key drops one of them, so one typo still meets
                lengths = pc.utf8_length(pc.drop_null(frame.col(col).values))
                if len(lengths):
                    size = int(np.median(lengths.to_numpy(zero_copy_only=False)))
                    if size >= 6:
                        cuts = [0, size // 3, 2 * size // 3, None]
                        thirds = list(itertools.pairwise(cuts))
                        for drop in range(3):
                            two = tuple((col, a, b) for i, (a, b) in enumerate(thirds) if i != drop)
                            rules.append(BlockingRule(f"{col} without third {drop}", two, ()))
        elif kind == "phone":
            rules.append(BlockingRule(f"{col} exact", ((col, None, None),), (col,)))
    for n in names:
        for d in dates:
            rules.append(
                BlockingRule(
                    f"{n} pinyin + {d}", ((n + PINYIN, None, None), (d, None, None)), (n, d), True
                )
            )
    for i, a in enumerate(names):
        for b in names[i + 1 :]:
            rules.append(
                BlockingRule(
                    f"{a} + {b} pinyin",
                    ((a + PINYIN, None, None), (b + PINYIN, None, None)),
                    (a, b),
                    True,
                )
            )
    # a category blocks with a name or date only if it has many values (a postcode, not a gender)
    cats = [c for c in cats if len(frame.col(c).uniques) >= MIN_CATEGORY_VALUES]
    addresses = [c for c, k in kinds.items() if k == "address"]
    for n in names:
        for a in addresses:  # records with neither a birth date nor an ID number
            rules.append(
                BlockingRule(f"{n} pinyin + {a}", ((n + PINYIN, None, None), (a, None, None)), ())
            )
    for d in dates:
        for a in addresses:  # a name cut short or swapped, an ID number missing or far off
            rules.append(BlockingRule(f"{d} + {a}", ((d, None, None), (a, None, None)), (d, a)))
    for n in names:
        for c in cats:
            rules.append(
                BlockingRule(f"{n} pinyin + {c}", ((n + PINYIN, None, None), (c, None, None)), ())
            )
    for d in dates:
        for c in cats:
            rules.append(BlockingRule(f"{d} + {c}", ((d, None, None), (c, None, None)), (d, c)))
    return rules


def pairs_from_codes(
    codes: np.ndarray, max_block: int = DEFAULT_MAX_BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """All pairs (i < j) of records sharing a non-negative code; groups over ``max_block`` skipped.

    >>> pairs_from_codes(np.array([0, 1, 0, -1, 0]))
    (array([0, 0, 2]), array([2, 4, 4]))
    """
    idx = np.flatnonzero(codes >= 0)
    if len(idx) > 1024:
        # A key only one record holds pairs with nothing (most keys of an ID number's
        # cuts): counting keys by their low bits drops those records before the sort.
        buckets = 1 << int(len(idx) * 2).bit_length()
        low = codes[idx] & (buckets - 1)
        idx = idx[np.bincount(low, minlength=buckets)[low] > 1]
    if len(idx) < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    order = idx[np.argsort(codes[idx])]
    sorted_codes = codes[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
    sizes = np.diff(np.r_[starts, len(order)])
    keep = (sizes >= 2) & (sizes <= max_block)
    starts, sizes = starts[keep], sizes[keep]
    if len(starts) == 0:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    # position of every member of a kept group, and how many later members it pairs with
    member_group = np.repeat(np.arange(len(starts)), sizes)
    member_pos = np.repeat(starts, sizes) + (
        np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    )
    group_end = np.repeat(starts + sizes, sizes)
    later = group_end - member_pos - 1
    left_pos = np.repeat(member_pos, later)
    first = np.repeat(member_pos + 1, later)
    offset = np.arange(later.sum()) - np.repeat(np.cumsum(later) - later, later)
    right_pos = first + offset
    del member_group
    a, b = order[left_pos], order[right_pos]
    return np.minimum(a, b).astype(np.int64), np.maximum(a, b).astype(np.int64)


def candidate_pairs(
    frame: Frame, rules: list[BlockingRule], max_block: int = DEFAULT_MAX_BLOCK
) -> tuple[np.ndarray, np.ndarray]:
    """Union of every rule's pairs, deduplicated, as aligned (left, right) index arrays."""
    n = len(frame)
    keys = []
    for rule in rules:
        a, b = pairs_from_codes(rule.key_codes(frame), max_block)
        keys.append(a * n + b)
    if not keys:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    allkeys = np.concatenate(keys)
    allkeys.sort()
    uniq = allkeys[np.r_[True, allkeys[1:] != allkeys[:-1]]] if len(allkeys) else allkeys
    return uniq // n, uniq % n


def random_pairs(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` uniformly random pairs of distinct records (for estimating u)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, size=size)
    b = rng.integers(0, n - 1, size=size)
    b = b + (b >= a)
    return a.astype(np.int64), b.astype(np.int64)
