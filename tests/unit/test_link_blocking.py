"""Blocking finds the pairs a user expects, columnar, and never pairs a record with itself."""

from __future__ import annotations

import itertools

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from linkgraph.link.blocking import candidate_pairs, default_rules, pairs_from_codes
from linkgraph.link.frame import prepare
from linkgraph.link.mapping import LinkMapping


def brute_force(codes: list[int], cap: int) -> set[tuple[int, int]]:
    out = set()
    sizes = {c: codes.count(c) for c in set(codes)}
    for i, j in itertools.combinations(range(len(codes)), 2):
        if codes[i] == codes[j] and codes[i] >= 0 and sizes[codes[i]] <= cap:
            out.add((i, j))
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1, 6), max_size=40), st.integers(2, 8))
def test_pairs_from_codes_matches_brute_force(codes: list[int], cap: int) -> None:
    a, b = pairs_from_codes(np.array(codes, dtype=np.int64), cap)
    got = set(zip(a.tolist(), b.tolist(), strict=True))
    assert got == brute_force(codes, cap)
    assert len(got) == len(a)  # no duplicates


def _frame(ids: list[str | None], names: list[str]) -> object:
    table = pa.table(
        {
            "rid": [f"r{i}" for i in range(len(ids))],
            "idn": ids,
            "nm": names,
            "dob": ["1950-01-01"] * len(ids),
        }
    )
    m = LinkMapping.from_dict(
        {"record_id": "rid", "fields": {"idn": "national_id", "nm": "name", "dob": "date"}}
    )
    return prepare(table, m)


def test_one_wrong_digit_or_legacy_id_still_meets_its_record() -> None:
    true = "341221194901011236"  # check character computed below is irrelevant for blocking
    wrong_seq = true[:15] + "9" + true[16:]
    wrong_region = "3" + "9" + true[2:]
    legacy = true[:6] + true[8:17]
    frame = _frame(
        [true, wrong_seq, wrong_region, legacy, "110105195001019999"],
        ["甲", "乙", "丙", "丁", "戊"],
    )
    a, b = candidate_pairs(frame, default_rules(frame))  # type: ignore[arg-type]
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    assert {(0, 1), (0, 2), (0, 3)} <= pairs
    assert not any(4 in p for p in pairs)


def test_same_pinyin_and_birth_date_block_together_without_ids() -> None:
    frame = _frame([None, None, None], ["王秀英", "王秀瑛", "李秀英"])
    a, b = candidate_pairs(frame, default_rules(frame))  # type: ignore[arg-type]
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == {(0, 1)}


def test_a_cut_short_name_without_id_meets_its_record_by_birth_date_and_address() -> None:
    table = pa.table(
        {
            "rid": ["r0", "r1", "r2"],
            "idn": ["341221194901011236", None, None],
            "nm": ["刘素珍", "刘素", "刘素"],
            "dob": ["1949-01-01", "1949-01-01", "1950-02-02"],
            "addr": ["魏岗镇阎湖村3组16号", "魏岗镇阎湖村三组16号", "立德镇于园村10组79号"],
        }
    )
    m = LinkMapping.from_dict(
        {
            "record_id": "rid",
            "fields": {"idn": "national_id", "nm": "name", "dob": "date", "addr": "address"},
        }
    )
    frame = prepare(table, m)
    a, b = candidate_pairs(frame, default_rules(frame))
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == {(0, 1)}


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32), st.integers(1100, 4000), st.integers(2, 6))
def test_pairs_from_codes_on_many_records_skips_only_keys_nobody_shares(
    seed: int, n: int, cap: int
) -> None:
    """Above a thousand records, keys held once are dropped before the sort: the pairs
    stay those of every key two or more records share (up to the cap)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**62, size=n)
    shared = rng.integers(0, n, size=n // 3)
    codes[shared] = codes[rng.integers(0, 40, size=len(shared))]  # some keys held many times
    codes[rng.integers(0, n, size=n // 10)] = -1
    groups: dict[int, list[int]] = {}
    for i, c in enumerate(codes.tolist()):
        if c >= 0:
            groups.setdefault(c, []).append(i)
    expected = {
        pair
        for members in groups.values()
        if 2 <= len(members) <= cap
        for pair in itertools.combinations(members, 2)
    }
    a, b = pairs_from_codes(codes, cap)
    assert set(zip(a.tolist(), b.tolist(), strict=True)) == expected
    assert len(a) == len(expected)
