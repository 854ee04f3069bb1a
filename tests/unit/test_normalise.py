"""Tests for linkgraph.normalise, fed from tests/data/normalise_cases.json.

Like httpx's test_whatwg.py: the corpus is loaded once; each case is one line of JSON,
``[raw, expected, note]``.  The bulk (columnar) functions are checked against the scalar
ones on the whole corpus and on seeded random strings.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from linkgraph import normalise as nz

CASES: dict[str, Any] = json.loads(
    (Path(__file__).parents[1] / "data" / "normalise_cases.json").read_text("utf-8")
)


def _params(section: str) -> list[Any]:
    return [
        pytest.param(raw, expected, id=f"{i}-{note}")
        for i, (raw, expected, note) in enumerate(CASES.get(section, []))
    ]


def _iso(d: dt.date | None) -> str | None:
    return None if d is None else d.isoformat()


# --- resident IDs ---------------------------------------------------------------------


def test_check_character_standard_example() -> None:
    assert nz.check_character("11010519491231002") == "X"


def test_upgrade_15_to_18() -> None:
    assert nz.upgrade_15_to_18("341221490101123") == "341221194901011234"


@pytest.mark.parametrize(
    "bad", ["1101051949123100", "1101051949123100a", "１１０１０５１９４９１２３１００２"]
)
def test_check_character_rejects_non_digits(bad: str) -> None:
    with pytest.raises(ValueError):
        nz.check_character(bad)


@pytest.mark.parametrize(("raw", "expected"), _params("resident_id"))
def test_resident_id(raw: str | None, expected: list[Any]) -> None:
    rid = nz.resident_id(raw)
    assert rid.raw == raw
    assert [rid.value, rid.status, rid.region, _iso(rid.birth_date), rid.gender] == expected


def test_resident_id_future_birth_is_invalid() -> None:
    body = "341221" + (dt.date.today() + dt.timedelta(days=400)).strftime("%Y%m%d") + "123"
    assert nz.resident_id(body + nz.check_character(body)).status == "invalid"


# --- names ----------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), _params("name"))
def test_name(raw: str | None, expected: str | None) -> None:
    assert nz.name(raw) == expected


def test_traditional_and_simplified_are_the_same_name() -> None:
    assert nz.name("歐陽秀英") == nz.name("欧阳秀英")
    assert nz.pinyin_key("歐陽秀英") == nz.pinyin_key("欧阳秀英")


@pytest.mark.parametrize(("raw", "expected"), _params("pinyin_key"))
def test_pinyin_key(raw: str | None, expected: str | None) -> None:
    assert nz.pinyin_key(raw) == expected


# --- dates, phones, addresses ---------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), _params("date"))
def test_date(raw: str | None, expected: str | None) -> None:
    assert _iso(nz.date(raw)) == expected


@pytest.mark.parametrize(("raw", "expected"), _params("phone"))
def test_phone(raw: str | None, expected: str | None) -> None:
    assert nz.phone(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), _params("address"))
def test_address(raw: str | None, expected: str | None) -> None:
    assert nz.address(raw) == expected


def test_group_numerals_agree() -> None:
    forms = ["三合村三组", "三合村3组", "三合村第三组", "三合村第3组", "三合村三組", "三合村03组"]
    assert {nz.address(f) for f in forms} == {"三合村3组"}


def test_pinyin_key_equals_lazy_pinyin_of_whole_name() -> None:
    """The per-segment cache gives exactly lazy_pinyin(name) (style NORMAL)."""
    from pypinyin import Style, lazy_pinyin

    rng = random.Random(3)
    pool = "王李张刘陈曾单解朴区仇长重乐行秀英国华银行重庆长春阿依古丽买买提吕"
    samples = ["".join(rng.choice(pool) for _ in range(rng.randint(1, 5))) for _ in range(500)]
    for s in samples + _corpus_raws("name"):
        n = nz.name(s)
        if n is None:
            continue
        want = " ".join(w for w in lazy_pinyin(n, style=Style.NORMAL) if w.strip())
        assert nz.pinyin_key(s) == want.lower() or not nz._HAN_RE.search(n), s


# --- bulk == scalar -------------------------------------------------------------------

_ALPHABET = (
    "0123456789xX０１２Ｘ -'\t\u3000·・.,王秀英歐陽欧阳李張张吕Smith John年月日/号組组三十第村鄉"
    "+86()－"
    "一九四〇二号转ext、\n"
)


def _random_strings(seed: int, n: int = 400) -> list[str | None]:
    rng = random.Random(seed)
    out: list[str | None] = [None]
    for _ in range(n):
        out.append("".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, 20))))
    # near-misses of real IDs: valid, one digit changed, one transposition, 15-digit
    for _ in range(n):
        body = "34" + "".join(rng.choice("0123456789") for _ in range(4))
        body += f"{rng.randint(1900, 2010)}{rng.randint(1, 13):02d}{rng.randint(0, 31):02d}"
        body += f"{rng.randint(0, 999):03d}"
        full = body + nz.check_character(body)
        kind = rng.randint(0, 4)
        if kind == 1:
            i = rng.randrange(18)
            full = full[:i] + rng.choice("0123456789x") + full[i + 1 :]
        elif kind == 2:
            i = rng.randrange(17)
            full = full[:i] + full[i + 1] + full[i] + full[i + 2 :]
        elif kind == 3:
            full = body[:6] + body[8:]
        elif kind == 4:
            full = " " + full.lower() + "\u3000"
        out.append(full)
    return out


def _corpus_raws(section: str) -> list[str | None]:
    return [raw for raw, _, _ in CASES.get(section, [])]


def _bulk_inputs(section: str) -> list[list[str | None]]:
    return [_corpus_raws(section), _random_strings(1), _random_strings(2), []]


@pytest.mark.parametrize("as_arrow", [False, True])
def test_resident_ids_bulk_equals_scalar(as_arrow: bool) -> None:
    for values in _bulk_inputs("resident_id"):
        col: Any = pa.chunked_array([pa.array(values, pa.string())]) if as_arrow else values
        table = nz.resident_ids(col)
        assert table.column_names == [
            "id_number",
            "id_status",
            "id_region",
            "id_birth_date",
            "id_gender",
        ]
        assert table.schema.field("id_birth_date").type == pa.date32()
        got = table.to_pylist()
        for raw, row in zip(values, got, strict=True):
            rid = nz.resident_id(raw)
            want = {
                "id_number": rid.value,
                "id_status": rid.status,
                "id_region": rid.region,
                "id_birth_date": rid.birth_date,
                "id_gender": rid.gender,
            }
            assert row == want, raw


@pytest.mark.parametrize(
    ("bulk", "scalar", "section"),
    [
        (nz.names, nz.name, "name"),
        (nz.pinyin_keys, nz.pinyin_key, "pinyin_key"),
        (nz.dates, nz.date, "date"),
        (nz.phones, nz.phone, "phone"),
        (nz.addresses, nz.address, "address"),
    ],
)
def test_bulk_equals_scalar(bulk: Any, scalar: Any, section: str) -> None:
    for values in _bulk_inputs(section):
        assert bulk(values).to_pylist() == [scalar(v) for v in values]
        assert bulk(pa.array(values, pa.string())).to_pylist() == [scalar(v) for v in values]


_BULK_SCALAR = [
    (nz.names, nz.name),
    (nz.pinyin_keys, nz.pinyin_key),
    (nz.dates, nz.date),
    (nz.phones, nz.phone),
    (nz.addresses, nz.address),
]


def test_bulk_accepts_chunked_and_dictionary_columns() -> None:
    values = _corpus_raws("phone")
    chunked = pa.chunked_array([pa.array(values[:5]), pa.array(values[5:])])
    assert nz.phones(chunked).to_pylist() == [nz.phone(v) for v in values]
    encoded = pa.array(values).dictionary_encode()
    assert nz.phones(encoded).to_pylist() == [nz.phone(v) for v in values]


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass
else:
    _TEXT = st.lists(
        st.one_of(st.none(), st.text(alphabet=_ALPHABET, max_size=24), st.text(max_size=12)),
        max_size=30,
    )

    @settings(max_examples=200, deadline=None)
    @given(values=_TEXT)
    def test_bulk_equals_scalar_hypothesis(values: list[str | None]) -> None:
        for bulk, scalar in _BULK_SCALAR:
            assert bulk(values).to_pylist() == [scalar(v) for v in values], bulk.__name__
        got = nz.resident_ids(values).column("id_number").to_pylist()
        assert got == [nz.resident_id(v).value for v in values]
        got = nz.resident_ids(values).column("id_status").to_pylist()
        assert got == [nz.resident_id(v).status for v in values]


def test_numbered_parts_are_rewritten_as_the_plain_rule_says() -> None:
    """The address rule ``第?(number)(unit)`` -> Arabic number + 组/号, written plainly,
    against the normaliser's faster form (which skips the forms the rule leaves alone),
    on strings built from the characters that matter."""
    import re

    plain = re.compile(f"第?({nz._ADDR_NUM})({nz._ADDR_UNIT})")

    def rule(text: str) -> str:
        return plain.sub(lambda m: nz._arabic(m[1]) + ("号" if m[2] == "号" else "组"), text)

    rng = random.Random(7)
    alphabet = "第00139三十两〇组号村民小X"
    for _ in range(50_000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        assert nz._address_numbers(text) == rule(text), text
