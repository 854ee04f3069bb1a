"""Blocking: candidate pairs from records sharing a key, generated columnar.

A rule's key is built with pyarrow string kernels from prepared columns (optionally a
slice of each), dictionary-encoded to integer codes; pairs inside each key group
come from one vectorised ``repeat``/``arange`` expansion, never a Python loop per row.

    ID "341221194901011234" blocks, with one part dropped each time, on
    "341221|0101|1234", "341221|1949|1234", ... so one wrong digit still meets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.link.frame import PINYIN, Frame

DEFAULT_MAX_BLOCK = 100


@dataclass(frozen=True)
class BlockingRule:
    """Records whose key parts are all non-null and equal become candidate pairs."""

    name: str
    parts: tuple[tuple[str, int | None, int | None], ...]  # (column, start, stop)
    comparisons: tuple[str, ...]  # comparisons whose agreement the rule implies
    train: bool = False  # used as an EM training session
    length: int | None = None  # only for values of the first part's column of this length

    def key_strings(self, frame: Frame) -> pa.Array:
        pieces = []
        for col, start, stop in self.parts:
            arr = frame.col(col).values
            if start is not None or stop is not None:
                arr = pc.utf8_slice_codeunits(arr, start or 0, stop if stop is not None else 10**6)
            pieces.append(arr)
        key = pieces[0] if len(pieces) == 1 else pc.binary_join_element_wise(*pieces, "|")
        if self.length is not None:
            first = frame.col(self.parts[0][0]).values
            ok = pc.equal(pc.utf8_length(first), self.length)
            key = pc.if_else(ok, key, pa.scalar(None, pa.string()))
        return key

    def key_codes(self, frame: Frame) -> np.ndarray:
        """int64 code per record, -1 where the key is null."""
        encoded = pc.dictionary_encode(self.key_strings(frame))
        return encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)


def default_rules(frame: Frame) -> list[BlockingRule]:
    """Blocking rules for a frame's mapped fields (see module docstring)."""
    rules: list[BlockingRule] = []
    kinds = frame.kinds
    names = [c for c, k in kinds.items() if k == "name"]
    dates = [c for c, k in kinds.items() if k == "date"]
    cats = [c for c, k in kinds.items() if k == "category"]
    for col, kind in kinds.items():
        if kind == "national_id":
            rules.append(BlockingRule(f"{col} exact", ((col, None, None),), (col,), train=True))
            if frame.chinese_id.get(col):
                # GB 11643-1999 layout: region(0:6) year(6:10) month-day(10:14) seq(14:17) check(17)
                parts = [(0, 6), (6, 10), (10, 14), (14, 17), (17, 18)]
                for drop in range(len(parts)):
                    kept = tuple((col, a, b) for i, (a, b) in enumerate(parts) if i != drop)
                    rules.append(BlockingRule(f"{col} without part {drop}", kept, (), length=18))
            else:
                lengths = pc.utf8_length(pc.drop_null(frame.col(col).values))
                if len(lengths):
                    half = max(int(np.median(lengths.to_numpy(zero_copy_only=False))) // 2, 2)
                    rules.append(BlockingRule(f"{col} first half", ((col, 0, half),), ()))
                    rules.append(BlockingRule(f"{col} second half", ((col, half, None),), ()))
        elif kind == "phone":
            rules.append(BlockingRule(f"{col} exact", ((col, None, None),), (col,), train=True))
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
    if len(idx) < 2:
        empty = np.empty(0, dtype=np.int64)
        return empty, empty
    order = idx[np.argsort(codes[idx], kind="stable")]
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
    uniq = np.unique(np.concatenate(keys))
    return uniq // n, uniq % n


def random_pairs(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``size`` uniformly random pairs of distinct records (for estimating u)."""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, n, size=size)
    b = rng.integers(0, n - 1, size=size)
    b = b + (b >= a)
    return a.astype(np.int64), b.astype(np.int64)
