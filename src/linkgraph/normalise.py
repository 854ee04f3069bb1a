"""Normalisation of the raw fields found on department rosters.

Every field has a scalar function (one value, pure, cheap to reason about) and a
bulk function over a column (``pa.Array``, ``pa.ChunkedArray`` or a Python
sequence).  The bulk functions never loop over rows in Python: they either run
vectorised kernels (numpy / ``pyarrow.compute``) or dictionary-encode the column
and apply the scalar function to the *distinct* values only, then map back.  The
scalar and bulk versions are tested to agree on the test corpus and on random
strings.

Standards cited:

* GB 11643-1999 "Citizen identification number": 18 characters =
  6-digit address code (GB/T 2260) + 8-digit birth date YYYYMMDD +
  3-digit sequence (odd = male, even = female) + 1 check character.
  The 15-digit legacy number is 6 address + YYMMDD (century 19) + 3 sequence.
* ISO 7064:1983 MOD 11-2: the check character algorithm used by GB 11643-1999.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import opencc
import pyarrow as pa
import pyarrow.compute as pc
from pypinyin import Style, lazy_pinyin
from pypinyin.seg.simpleseg import seg as _pinyin_seg

__all__ = [
    "ResidentId",
    "address",
    "addresses",
    "check_character",
    "date",
    "dates",
    "name",
    "names",
    "phone",
    "phones",
    "pinyin_key",
    "pinyin_keys",
    "resident_id",
    "resident_ids",
    "upgrade_15_to_18",
]

Column: TypeAlias = pa.Array | pa.ChunkedArray | Sequence[str | None]
IdStatus: TypeAlias = Literal["valid", "repaired", "invalid", "missing"]

_T2S = opencc.OpenCC("t2s")


# ---------------------------------------------------------------------------
# Column helpers
# ---------------------------------------------------------------------------


def _as_string_array(values: Column) -> pa.Array:
    """Any column-ish input -> one contiguous ``pa.string()`` array."""
    if isinstance(values, pa.ChunkedArray):
        arr = values.combine_chunks() if values.num_chunks else pa.array([], pa.string())
    elif isinstance(values, pa.Array):
        arr = values
    else:
        arr = pa.array(list(values), type=pa.string())
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    if not pa.types.is_string(arr.type):
        arr = arr.cast(pa.string())
    return arr


def _map_distinct(arr: pa.Array, fn: Callable[[str], Any], out_type: pa.DataType) -> pa.Array:
    """Apply a scalar ``fn`` to each distinct non-null value of ``arr`` only, then map back.

    ``["王秀英", "王秀英", None]`` -> ``fn`` called once -> ``[fn("王秀英"), fn("王秀英"), None]``
    """
    if len(arr) == 0:
        return pa.array([], type=out_type)
    encoded = pc.dictionary_encode(arr)  # nulls stay null in the indices
    distinct = encoded.dictionary.to_pylist()
    mapped = pa.array([fn(v) for v in distinct], type=out_type)
    return mapped.take(encoded.indices)


def _map_distinct_lines(arr: pa.Array, fn: Callable[[str], str]) -> pa.Array:
    """:func:`_map_distinct` for a ``fn`` that maps a text line by line: the distinct
    non-null values go through ``fn`` as one text, a line each (one call into OpenCC and
    one regex pass instead of one per value).  A line break inside a value becomes a space
    first: every normaliser here treats it as whitespace.  An empty line maps to null.

    ``["三組", "三組", None]`` -> ``fn("三組")`` -> ``["三组", "三组", None]``
    """
    if arr.null_count == len(arr):
        return pa.nulls(len(arr), pa.string())
    encoded = pc.dictionary_encode(arr)
    lines = pc.replace_substring(encoded.dictionary, "\n", " ").to_pylist()
    mapped = fn("\n".join(lines)).split("\n")
    if len(mapped) != len(lines):
        raise AssertionError("a normaliser added or removed a line break")
    out = pa.array(mapped, type=pa.string())
    out = pc.if_else(pc.equal(out, ""), pa.scalar(None, pa.string()), out)
    return out.take(encoded.indices)


# ---------------------------------------------------------------------------
# Resident identity numbers (GB 11643-1999)
# ---------------------------------------------------------------------------

# ISO 7064 MOD 11-2 weights W_i = 2^(17-i) mod 11 for positions i = 1..17 (GB 11643-1999 §8.2).
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
# Check character for (sum mod 11) = 0..10 (GB 11643-1999 §8.2; 10 is written "X").
_ID_CHECK_CHARS = "10X98765432"
# Birth dates outside [_MIN_BIRTH, today] are implausible.
_MIN_BIRTH = dt.date(1850, 1, 1)

# Whitespace we trim (and, inside an ID, remove).  Spelled out as literal characters so
# that Python ``re`` and RE2 (pyarrow) see exactly the same class.
_WS = " \t\n\r\f\v\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000-\u200b\u2028\u2029\u202f\u205f\u3000\ufeff"
_TRIM_PATTERN = f"^[{_WS}]+|[{_WS}]+$"
_TRIM_RE = re.compile(_TRIM_PATTERN)
# Lossless junk inside an ID: whitespace, hyphens/dashes, quotes (Excel's leading "'").
_ID_JUNK_PATTERN = f"[{_WS}'\"\u2010-\u2015\u2212\\-]"
_ID_JUNK_RE = re.compile(_ID_JUNK_PATTERN)
_ID18_PATTERN = "^[0-9]{17}[0-9X]$"
_ID15_PATTERN = "^[0-9]{15}$"
_ID18_RE = re.compile(_ID18_PATTERN)
_ID15_RE = re.compile(_ID15_PATTERN)


@dataclass(frozen=True, slots=True)
class ResidentId:
    """A parsed resident identity number.

    ``value`` is the canonical 18-character form (upper-case ``X``) whenever the cleaned
    input is *structurally* an ID (18 chars ``[0-9]{17}[0-9X]`` or 15 digits), even when
    ``status`` is ``"invalid"`` (wrong check character, impossible birth date), so fuzzy
    comparison can still use it.  ``region``, ``birth_date`` and ``gender`` are read from
    that value; for an ``"invalid"`` ID they are unverified (``birth_date`` is None when
    the date is impossible).
    """

    raw: str | None
    value: str | None
    status: IdStatus
    region: str | None
    birth_date: dt.date | None
    gender: Literal["M", "F"] | None


def check_character(first17: str) -> str:
    """ISO 7064 MOD 11-2 check character of the first 17 digits (GB 11643-1999 §8.2).

    ``"11010519491231002"`` -> ``"X"``
    """
    if len(first17) != 17 or not (first17.isascii() and first17.isdigit()):
        raise ValueError(f"expected 17 ASCII digits, got {first17!r}")
    total = sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True))
    return _ID_CHECK_CHARS[total % 11]


def upgrade_15_to_18(id15: str) -> str:
    """Upgrade a 15-digit legacy number: insert the century "19", append the check character.

    ``"341221490101123"`` -> ``"34122119490101123" + check_character(...)``
    """
    if len(id15) != 15 or not (id15.isascii() and id15.isdigit()):
        raise ValueError(f"expected 15 ASCII digits, got {id15!r}")
    body = id15[:6] + "19" + id15[6:]
    return body + check_character(body)


def _plausible_birth(yyyymmdd: str) -> dt.date | None:
    """``"19491231"`` -> ``date(1949, 12, 31)``; impossible or out-of-range date -> None."""
    try:
        d = dt.date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        return None
    if d < _MIN_BIRTH or d > dt.date.today():
        return None
    return d


def _clean_id(trimmed: str) -> str:
    """Lossless clean-up: ``"３４１２２１ 1949-0101 123x"`` -> ``"3412211949 0101123X"`` w/o junk.

    NFKC folds full-width digits/letters; embedded whitespace, dashes and quotes go;
    a lower-case ``x`` becomes ``X``.
    """
    cleaned = unicodedata.normalize("NFKC", trimmed)
    cleaned = _ID_JUNK_RE.sub("", cleaned)
    return cleaned.replace("x", "X")


def resident_id(raw: str | None) -> ResidentId:
    """Parse and validate a resident ID number (GB 11643-1999).

    ``" 11010519491231002x"`` -> ``ResidentId(value="11010519491231002X", status="repaired", ...)``
    """
    if raw is None:
        return ResidentId(raw, None, "missing", None, None, None)
    trimmed = _TRIM_RE.sub("", raw)
    cleaned = _clean_id(trimmed)
    if not cleaned:
        return ResidentId(raw, None, "missing", None, None, None)

    if _ID18_RE.match(cleaned):
        body, given = cleaned[:17], cleaned[17]
    elif _ID15_RE.match(cleaned):
        # 15-digit legacy number: 6 region + YYMMDD + 3 sequence, century 19.
        body, given = cleaned[:6] + "19" + cleaned[6:], None
    else:
        return ResidentId(raw, None, "invalid", None, None, None)

    check = check_character(body)
    birth = _plausible_birth(body[6:14])
    gender: Literal["M", "F"] = "M" if int(body[16]) % 2 else "F"
    ok = birth is not None and (given is None or given == check)
    status: IdStatus
    if not ok:
        status = "invalid"
    elif given is not None and cleaned == trimmed:
        status = "valid"
    else:
        status = "repaired"
    return ResidentId(raw, body + (given or check), status, body[:6], birth, gender)


def canonical_id(raw: str | None) -> str | None:
    """An ID number in its one written form (full-width digits, spaces, a lowercase x and a
    15-digit legacy number made the 18-character number), or None when it is not one a
    person can be found or founded by (missing, or failing its check)."""
    if not raw:
        return None
    parsed = resident_id(raw)
    return parsed.value if parsed.status in ("valid", "repaired") else None


_ID_STATUSES = pa.array(["valid", "repaired", "invalid", "missing"], type=pa.string())
_ID_WEIGHTS_NP = np.array(_ID_WEIGHTS, dtype=np.int64)
_ID_CHECK_NP = np.frombuffer(_ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)


def _fixed_width_bytes(arr: pa.Array, width: int) -> np.ndarray:
    """A string array whose values are all ``width`` ASCII bytes -> ``uint8[n, width]``."""
    fixed = pc.cast(arr, pa.binary(width))
    data = np.frombuffer(fixed.buffers()[1], dtype=np.uint8)
    start = fixed.offset * width
    return data[start : start + len(fixed) * width].reshape(len(fixed), width)


def _days_from_ymd(
    year: np.ndarray, month: np.ndarray, day: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised calendar check: ``(1949, 2, 30)`` -> ``ok=False``; returns (ok, datetime64[D])."""
    month_ok = (month >= 1) & (month <= 12) & (year >= 1) & (year <= 9999)
    safe_month = np.where(month_ok, month, 1)
    safe_year = np.where(month_ok, year, 1970)
    month_start = ((safe_year - 1970) * 12 + (safe_month - 1)).astype("datetime64[M]")
    first = month_start.astype("datetime64[D]")
    days_in_month = ((month_start + 1).astype("datetime64[D]") - first).astype(np.int64)
    ok = month_ok & (day >= 1) & (day <= days_in_month)
    days = first + np.where(ok, day - 1, 0).astype("timedelta64[D]")
    return ok, days


def resident_ids(values: Column) -> pa.Table:
    """Vectorised :func:`resident_id` over a column.

    ``["11010519491231002X", "341221490101123", None]`` -> table with ``id_number``,
    ``id_status`` (valid / repaired / missing ...), ``id_region``, ``id_birth_date``
    (date32), ``id_gender``.
    """
    arr = _as_string_array(values)
    n = len(arr)
    # Fast path: most rows are already a clean 18-char ID; only the rest is cleaned.
    direct = pc.fill_null(pc.match_substring_regex(arr, _ID18_PATTERN), False)
    unclean = pc.invert(direct)
    cleaned, same = arr, direct  # same: cleaned == trimmed raw
    if pc.any(unclean).as_py():
        sub = arr.filter(unclean)
        trimmed_sub = pc.replace_substring_regex(sub, _TRIM_PATTERN, "")
        cleaned_sub = pc.utf8_normalize(trimmed_sub, "NFKC")
        cleaned_sub = pc.replace_substring_regex(cleaned_sub, _ID_JUNK_PATTERN, "")
        cleaned_sub = pc.replace_substring(cleaned_sub, "x", "X")
        same_sub = pc.fill_null(pc.equal(cleaned_sub, trimmed_sub), False)
        cleaned = pc.replace_with_mask(arr, unclean, cleaned_sub)
        same = pc.replace_with_mask(direct, unclean, same_sub)

    missing = pc.fill_null(pc.equal(pc.binary_length(cleaned), 0), True)
    is18 = pc.fill_null(pc.match_substring_regex(cleaned, _ID18_PATTERN), False)
    is15 = pc.fill_null(pc.match_substring_regex(cleaned, _ID15_PATTERN), False)
    structured = pc.or_(is18, is15)

    # 17-char body: the 18-char's first 17, or the 15-digit's with century "19" inserted.
    upgraded = pc.binary_join_element_wise(
        pc.utf8_slice_codeunits(cleaned, 0, 6), "19", pc.utf8_slice_codeunits(cleaned, 6, 15), ""
    )
    body = pc.if_else(is18, pc.utf8_slice_codeunits(cleaned, 0, 17), upgraded)
    body = pc.if_else(structured, body, "0" * 17)
    given = pc.if_else(is18, pc.utf8_slice_codeunits(cleaned, 17, 18), "0")

    mat = _fixed_width_bytes(body, 17)
    given_np = _fixed_width_bytes(given, 1)[:, 0]
    is18_np = is18.to_numpy(zero_copy_only=False)
    structured_np = structured.to_numpy(zero_copy_only=False)

    # ISO 7064 MOD 11-2: sum(a_i * W_i) mod 11 -> "10X98765432".
    digits = mat.astype(np.int64) - 48
    check = _ID_CHECK_NP[(digits @ _ID_WEIGHTS_NP) % 11]
    check_ok = ~is18_np | (given_np == check)

    year = digits[:, 6:10] @ np.array([1000, 100, 10, 1])
    month = digits[:, 10] * 10 + digits[:, 11]
    day = digits[:, 12] * 10 + digits[:, 13]
    date_ok, days = _days_from_ymd(year, month, day)
    date_ok &= (days >= np.datetime64(_MIN_BIRTH, "D")) & (
        days <= np.datetime64(dt.date.today(), "D")
    )

    out = np.empty((n, 18), dtype=np.uint8)
    out[:, :17] = mat
    out[:, 17] = np.where(is18_np, given_np, check)
    offsets = np.arange(0, 18 * (n + 1), 18, dtype=np.int32)
    number = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(out.tobytes()))
    null_str = pa.scalar(None, pa.string())
    number = pc.if_else(structured, number, null_str)

    as_given = pc.and_(is18, same)
    ok = structured_np & check_ok & date_ok
    code = np.where(ok, np.where(as_given.to_numpy(zero_copy_only=False), 0, 1), 2)
    code = np.where(missing.to_numpy(zero_copy_only=False), 3, code)
    status = _ID_STATUSES.take(pa.array(code.astype(np.int8)))

    region = pc.utf8_slice_codeunits(number, 0, 6)
    birth = pa.array(days, type=pa.date32(), mask=~(structured_np & date_ok))
    odd = pa.array(digits[:, 16] % 2 == 1)
    gender = pc.if_else(structured, pc.if_else(odd, "M", "F"), null_str)
    return pa.table(
        {
            "id_number": number,
            "id_status": status,
            "id_region": region,
            "id_birth_date": birth,
            "id_gender": gender,
        }
    )


# ---------------------------------------------------------------------------
# Personal names
# ---------------------------------------------------------------------------

# CJK Unified Ideographs (+ Ext A, compatibility, Ext B..G).
_HAN_RE = re.compile("[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
# Zero-width / soft-hyphen characters pasted from office software; always dropped.
_INVISIBLE_RE = re.compile("[\u00ad\u200b-\u200f\u2060\ufeff]")
# Middle dots used between the parts of a transliterated name (阿依古丽·买买提), after
# NFKC (which maps U+FF65 to U+30FB): U+00B7, U+30FB, U+2022, U+2027, U+2219, U+22C5,
# plus ASCII "." which is typed in their place.
_DOTS = "\u00b7\u30fb\u2022\u2027\u2219\u22c5."
_HAN_SEP_RE = re.compile(f"[\\s{_DOTS}]+")
_LATIN_SEP_RE = re.compile(f"[\\s{_DOTS},]+")


def _latin_name(s: str) -> str:
    """``"Smith, John"`` -> ``"john smith"``: "Family, Given" reordered, lower-cased,
    separators (spaces, middle dots, periods) collapsed to one space."""
    if s.count(",") == 1:
        family, given = s.split(",")
        s = f"{given} {family}"
    return _LATIN_SEP_RE.sub(" ", s).strip().lower()


def name(raw: str | None) -> str | None:
    """Normalise a personal name.

    ``"歐陽　秀英"`` -> ``"欧阳秀英"``;  ``"Smith, John"`` -> ``"john smith"``

    Rules, in order: NFKC (full-width -> half-width, U+3000 -> space), zero-width
    characters dropped, OpenCC t2s (traditional -> simplified).  A name containing any
    Han character then loses *all* whitespace and middle dots: "王 秀英", "阿依古丽·买买提"
    and "阿依古丽买买提" are the same name on paper (rosters write the dot inconsistently),
    and the dot carries no information a matcher can use.  Other (Latin) names keep one
    space between parts (middle dots and periods become that space), "Family, Given" is
    reordered to "given family", and everything is lower-cased.  Empty -> None.
    """
    if raw is None:
        return None
    return _name_parts(_script(raw.replace("\n", " "))) or None


def _script(text: str) -> str:
    """NFKC, zero-width characters dropped, OpenCC t2s: of one value or of many, a line
    each (none of the three joins or splits lines)."""
    s = unicodedata.normalize("NFKC", text)
    s = _INVISIBLE_RE.sub("", s)
    return _T2S.convert(s)


def _name_parts(s: str) -> str:
    """A name's separators and case, after :func:`_script`."""
    return _HAN_SEP_RE.sub("", s).lower() if _HAN_RE.search(s) else _latin_name(s)


def names(values: Column) -> pa.Array:
    """Bulk :func:`name` (dictionary-encoded: distinct values only).

    ``["歐陽秀英", "欧阳秀英", None]`` -> ``["欧阳秀英", "欧阳秀英", None]``
    """

    def lines(text: str) -> str:
        return "\n".join(_name_parts(line) for line in _script(text).split("\n"))

    return _map_distinct_lines(_as_string_array(values), lines)


_ASCII_WORD_RE = re.compile("[a-z0-9]+")


def _ascii_words(s: str) -> list[str]:
    """``"José-María"`` -> ``["jose", "maria"]`` (accents stripped, lower-cased)."""
    folded = unicodedata.normalize("NFKD", s).encode("ascii", "ignore").decode("ascii")
    return _ASCII_WORD_RE.findall(folded.lower())


def _pinyin_of_name(n: str) -> str:
    """Pinyin key of an already normalised name: ``"王秀英"`` -> ``"wang xiu ying"``."""
    if not _HAN_RE.search(n):
        words = _ascii_words(n)
        return " ".join(words) if words else n
    # lazy_pinyin(n) == the concatenation of lazy_pinyin(segment) over pypinyin's own
    # segmentation of n, so romanising segment by segment through a cache is exact and
    # several times faster (names share their characters and phrases).
    words = [w for segment in _pinyin_seg(n) for w in _segment_syllables(segment)]
    return " ".join(words) if words else n


@functools.lru_cache(maxsize=1 << 16)
def _segment_syllables(segment: str) -> tuple[str, ...]:
    """``"秀英"`` -> ``("xiu", "ying")``: one pypinyin segment, toneless, ASCII words."""
    syllables = lazy_pinyin(segment, style=Style.NORMAL)
    return tuple(w for chunk in syllables for w in _ascii_words(chunk))


@functools.cache
def pinyin_syllables() -> frozenset[str]:
    """Every toneless pinyin syllable pypinyin writes (ü as "v"), as :func:`pinyin_key`
    spells them: ``"zhang" in`` it, a Latin name's ``"courtenay"`` not."""
    from pypinyin.constants import PINYIN_DICT
    from pypinyin.contrib.tone_convert import to_normal

    return frozenset(
        to_normal(p).replace("ü", "v") for v in PINYIN_DICT.values() for p in v.split(",")
    )


def pinyin_key(name_: str | None) -> str | None:
    """Phonetic key of a (raw or normalised) name: toneless pinyin syllables, space separated.

    ``"王秀英"`` -> ``"wang xiu ying"``;  ``"Smith, John"`` -> ``"john smith"``

    The name goes through :func:`name` first; Han characters are romanised with
    ``pypinyin.lazy_pinyin(style=NORMAL)`` (ü is written "v"), Latin names are folded to
    lower-case ASCII.  A name with neither gives its normalised form back.
    """
    n = name(name_)
    if n is None:
        return None
    return _pinyin_of_name(n)


def pinyin_keys(values: Column) -> pa.Array:
    """Bulk :func:`pinyin_key`: ``["王秀英", "王 秀英"]`` -> ``["wang xiu ying", "wang xiu ying"]``.

    Normalises the distinct raw values, then romanises each distinct normalised name once.
    """
    return _map_distinct(names(values), _pinyin_of_name, pa.string())


# ---------------------------------------------------------------------------
# Chinese numerals
# ---------------------------------------------------------------------------

_CN_DIGITS = {"〇": 0, "○": 0, "零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5}
_CN_DIGITS |= {"六": 6, "七": 7, "八": 8, "九": 9}
_CN_UNITS = {"十": 10, "百": 100, "千": 1000}
_CN_NUM_CLASS = "〇○零一二两三四五六七八九十百千"
_CN_NUM_RE = re.compile(f"[{_CN_NUM_CLASS}]+")


def _cn_int(s: str) -> int:
    """Chinese numeral -> int: ``"三十一"`` -> 31, ``"十二"`` -> 12, ``"一九四九"`` -> 1949.

    Without unit characters (十百千) the digits are read one by one (years, "一〇三号").
    """
    if not any(c in _CN_UNITS for c in s):
        return int("".join(str(_CN_DIGITS[c]) for c in s))
    total = current = 0
    for c in s:
        if c in _CN_UNITS:
            total += (current or 1) * _CN_UNITS[c]
            current = 0
        else:
            current = _CN_DIGITS[c]
    return total + current


def _cn_to_arabic(s: str) -> str:
    """Every run of Chinese numerals -> Arabic digits: ``"十二月三十一日"`` -> ``"12月31日"``."""
    if not _CN_NUM_RE.search(s):
        return s
    return _CN_NUM_RE.sub(lambda m: str(_cn_int(m.group())), s)


# ---------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------

_MIN_YEAR, _MAX_YEAR = 1850, 2100
# One pattern for Python ``re`` and RE2: Y-M-D with - / . or 年月日 (optional 日/号), an
# optional trailing time (spreadsheet exports), or compact YYYYMMDD.
_DATE_PATTERN = (
    "^(?P<y>[0-9]{4}) *[-/.年] *(?P<m>[0-9]{1,2}) *[-/.月] *(?P<d>[0-9]{1,2}) *[日号]?"
    "(?:(?: +|T)[0-9]{1,2}:[0-9]{2}(?::[0-9]{2}(?:[.][0-9]+)?)?)?$"
)
_DATE_COMPACT_PATTERN = "^(?P<y>[0-9]{4})(?P<m>[0-9]{2})(?P<d>[0-9]{2})$"
_DATE_RE = re.compile(_DATE_PATTERN)
_DATE_COMPACT_RE = re.compile(_DATE_COMPACT_PATTERN)


def date(raw: str | None) -> dt.date | None:
    """Parse a calendar date written year-first.

    ``"1949年12月31日"`` -> ``date(1949, 12, 31)``

    Accepted: ``1949-12-31``, ``19491231``, ``1949/12/31``, ``1949.12.31``,
    ``1949年12月31日`` (also ``号``, Chinese numerals ``一九四九年十二月三十一日``),
    single-digit month/day, full-width digits, a trailing ``HH:MM[:SS]``.  Impossible
    dates (``1949-02-30``), years outside 1850..2100, two-digit years and day-first or
    month-first orders (ambiguous) give None.
    """
    if raw is None:
        return None
    s = _TRIM_RE.sub("", unicodedata.normalize("NFKC", raw))
    s = _cn_to_arabic(s)
    m = _DATE_RE.match(s) or _DATE_COMPACT_RE.match(s)
    if m is None:
        return None
    year, month, day = int(m["y"]), int(m["m"]), int(m["d"])
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        return None
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def dates(values: Column) -> pa.Array:
    """Vectorised :func:`date`: ``["1949-12-31", "19491231", "1949-02-30"]`` -> date32
    ``[1949-12-31, 1949-12-31, null]``.

    The numeric forms are parsed with RE2 + numpy; the few values left over (Chinese
    numerals) go through the scalar function, once per distinct value.
    """
    arr = _as_string_array(values)
    n = len(arr)
    if n == 0:
        return pa.array([], type=pa.date32())
    s = pc.replace_substring_regex(pc.utf8_normalize(arr, "NFKC"), _TRIM_PATTERN, "")
    year = np.zeros(n, dtype=np.int64)
    month = np.zeros(n, dtype=np.int64)
    day = np.zeros(n, dtype=np.int64)
    matched = np.zeros(n, dtype=bool)
    for pattern in (_DATE_PATTERN, _DATE_COMPACT_PATTERN):
        parts = pc.extract_regex(s, pattern)
        valid = parts.is_valid()
        hit = valid.to_numpy(zero_copy_only=False) & ~matched
        for out, field in ((year, "y"), (month, "m"), (day, "d")):
            digits = pc.if_else(valid, parts.field(field), "0")  # children of nulls: ""
            ints = pc.cast(digits, pa.int64()).to_numpy()
            out[hit] = ints[hit]
        matched |= hit
    ok, days = _days_from_ymd(year, month, day)
    ok &= matched & (year >= _MIN_YEAR) & (year <= _MAX_YEAR)
    result = pa.array(days, type=pa.date32(), mask=~ok)

    # Leftovers that could still parse: Chinese numerals.
    rest = pc.and_(
        pc.invert(pa.array(matched)),
        pc.fill_null(pc.match_substring_regex(s, f"[{_CN_NUM_CLASS}]"), False),
    )
    if pc.any(rest).as_py():
        idx = pc.indices_nonzero(rest)
        parsed = _map_distinct(arr.take(idx), date, pa.date32())
        mask = np.zeros(n, dtype=bool)
        mask[idx.to_numpy()] = True
        filled = np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        filled[mask] = parsed.to_numpy(zero_copy_only=False)
        result = pc.if_else(pa.array(mask), pa.array(filled, type=pa.date32()), result)
    return result


# ---------------------------------------------------------------------------
# Phone numbers
# ---------------------------------------------------------------------------

# Only the first of several numbers counts ("138.../139..." or "138...、139...").
_PHONE_MULTI_PATTERN = "(?s)[,;、/|\n].*"
# Extensions: "0558-5123456转123", "ext 12", "x12", "分机12".
_PHONE_EXT_PATTERN = "(?s)(?:转|分机|[Ee][Xx][Tt]|[Xx]).*"
_PHONE_SEP_PATTERN = f"[{_WS}().\u2010-\u2015\u2212\\-]"
_PHONE_INTL_PATTERN = "^(?:\\+|00)86"
# A bare "86" in front of an 11-digit mobile number.
_PHONE_BARE86_PATTERN = "^86(1[3-9][0-9]{9})$"
# Mobile (1[3-9] + 9 digits), landline with trunk prefix and area code (010, 02x, 0xxx)
# + 7-8 digit local number, or a local number without area code (kept as is).
_PHONE_VALID_PATTERN = (
    "^(?:1[3-9][0-9]{9}|0(?:10|2[0-9]|[3-9][0-9]{2})[2-9][0-9]{6,7}|[2-9][0-9]{6,7})$"
)
_PHONE_MOBILE_PATTERN = "^1[3-9][0-9]{9}$"
_PHONE_MULTI_RE = re.compile(_PHONE_MULTI_PATTERN)
_PHONE_EXT_RE = re.compile(_PHONE_EXT_PATTERN)
_PHONE_SEP_RE = re.compile(_PHONE_SEP_PATTERN)
_PHONE_INTL_RE = re.compile(_PHONE_INTL_PATTERN)
_PHONE_BARE86_RE = re.compile(_PHONE_BARE86_PATTERN)
_PHONE_VALID_RE = re.compile(_PHONE_VALID_PATTERN)


def phone(raw: str | None) -> str | None:
    """Canonical digits of a Chinese phone number.

    ``"+86 138-1234 5678"`` -> ``"13812345678"``;  ``"0558-5123456"`` -> ``"05585123456"``

    NFKC (full-width digits), the first of several numbers, extension dropped,
    separators (spaces, dashes, dots, parentheses) removed, ``+86`` / ``0086`` / a bare
    ``86`` before a mobile number removed; after ``+86`` a landline gets its trunk ``0``
    back (``+86 558 5123456`` -> ``05585123456``).  Local numbers without an area code
    are kept as they are (7-8 digits): the area code is not guessed.  Anything else
    (foreign numbers, placeholders like ``00000000000``, text) -> None.
    """
    if raw is None:
        return None
    s = unicodedata.normalize("NFKC", raw)
    s = _PHONE_MULTI_RE.sub("", s)
    s = _PHONE_EXT_RE.sub("", s)
    s = _PHONE_SEP_RE.sub("", s)
    s = _PHONE_BARE86_RE.sub("\\1", s)
    if _PHONE_INTL_RE.match(s):
        s = _PHONE_INTL_RE.sub("", s)
        if s[:1] not in ("0", "1"):
            s = "0" + s
    return s if _PHONE_VALID_RE.match(s) else None


def phones(values: Column) -> pa.Array:
    """Vectorised :func:`phone` (RE2 kernels, no Python per row).

    ``["+86 138-1234 5678", "0558-5123456", "n/a"]`` -> ``["13812345678", "05585123456", null]``
    """
    arr = _as_string_array(values)
    # Fast path: a bare 11-digit mobile number is already canonical.
    direct = pc.fill_null(pc.match_substring_regex(arr, _PHONE_MOBILE_PATTERN), False)
    unclean = pc.invert(direct)
    if not pc.any(unclean).as_py():
        return arr
    return pc.replace_with_mask(arr, unclean, _phones_slow(arr.filter(unclean)))


def _phones_slow(arr: pa.Array) -> pa.Array:
    """The full :func:`phone` pipeline as RE2 kernels over a column."""
    s = pc.utf8_normalize(arr, "NFKC")
    s = pc.replace_substring_regex(s, _PHONE_MULTI_PATTERN, "")
    s = pc.replace_substring_regex(s, _PHONE_EXT_PATTERN, "")
    s = pc.replace_substring_regex(s, _PHONE_SEP_PATTERN, "")
    s = pc.replace_substring_regex(s, _PHONE_BARE86_PATTERN, "\\1")
    intl = pc.fill_null(pc.match_substring_regex(s, _PHONE_INTL_PATTERN), False)
    local = pc.replace_substring_regex(s, _PHONE_INTL_PATTERN, "")
    trunk = pc.invert(pc.fill_null(pc.match_substring_regex(local, "^[01]"), False))
    local = pc.if_else(trunk, pc.binary_join_element_wise("0", local, ""), local)
    s = pc.if_else(intl, local, s)
    valid = pc.fill_null(pc.match_substring_regex(s, _PHONE_VALID_PATTERN), False)
    return pc.if_else(valid, s, pa.scalar(None, pa.string()))


# ---------------------------------------------------------------------------
# Addresses
# ---------------------------------------------------------------------------

# Whitespace and list punctuation carry nothing in a Chinese address.
# (A line break stays: it separates the addresses of a bulk call, see _map_distinct_lines.)
_ADDR_JUNK_RE = re.compile("(?:[^\\S\\n]|[,;:、\"'“”‘’])+")
# Administrative prefixes of Bozhou (GB/T 2260 341600 and its counties 341602 谯城区,
# 341621 涡阳县, 341622 蒙城县, 341623 利辛县).  Before 2000 the counties were under
# 阜阳地区 (341281 亳州市 county-level city, 341221 涡阳县, 341222 蒙城县, 341227 利辛县),
# so "安徽省阜阳地区涡阳县" is the same place as "安徽省亳州市涡阳县".  A name without its
# suffix (安徽, 亳州) is dropped only when not followed by 路/街/巷/道 (亳州路 is a street).
_ADDR_PREFIX_RE = re.compile(
    "(?m)^(?:中国|中华人民共和国)?"
    "(?:安徽省|安徽(?![路街巷道]))?"
    "(?:(?:阜阳地区|阜阳市)(?=亳州市|亳县|涡阳县|蒙城县|利辛县))?"
    "(?:亳州市|亳州(?![路街巷道]))?"
    "(?:谯城区|涡阳县|蒙城县|利辛县|亳县)?"
)
_ADDR_NUM = f"[0-9]+|[{_CN_NUM_CLASS}]+"
_ADDR_UNIT = "村民小组|村民组|小组|组|号"
# Village groups and house numbers, one pass: 三组 / 第3组 / 第三村民组 / 03村民小组 -> 3组;
# 十二号 / 第12号 / 012号 -> 12号.  The rule is ``第?(number)(unit)``; to spare a Python
# call per address, only the forms it changes are matched: with 第, with a leading zero
# or Chinese numerals, or with a long unit (a number is never matched from its middle).
# tests/unit/test_normalise.py holds the two to the same results.
_ADDR_NUMBERED_RE = re.compile(
    f"第({_ADDR_NUM})({_ADDR_UNIT})"
    f"|((?<![0-9])0[0-9]*|[{_CN_NUM_CLASS}]+)({_ADDR_UNIT})"
    "|((?<![0-9])[1-9][0-9]*)(村民小组|村民组|小组)"
)


@functools.lru_cache(maxsize=4096)
def _arabic(num: str) -> str:
    """``"三"`` -> ``"3"``, ``"03"`` -> ``"3"``."""
    return str(int(num) if num.isascii() else _cn_int(num))


def _numbered(m: re.Match[str]) -> str:
    """``第三村民组`` -> ``3组``, ``十二号`` -> ``12号``."""
    number, unit = m[1] or m[3] or m[5], m[2] or m[4] or m[6]
    return _arabic(number) + ("号" if unit == "号" else "组")


def address(raw: str | None) -> str | None:
    """Normalise a Bozhou address.

    ``"安徽省亳州市谯城区魏岗鎮三合村第三組12號"`` -> ``"魏岗镇三合村3组12号"``

    NFKC, OpenCC t2s, whitespace and list punctuation removed, leading
    country/province/city/county names dropped (current and pre-2000 Fuyang-era forms),
    village groups and house numbers rewritten with Arabic numerals (``三组``,
    ``第3组``, ``第三村民组`` -> ``3组``; ``十二号`` -> ``12号``).  Empty -> None.
    """
    if raw is None:
        return None
    return _address_numbers(_address_text(raw.replace("\n", " "))) or None


def _address_text(text: str) -> str:
    """Script and prefix, of one address or of many, a line each:
    ``"安徽省亳州市 魏岗鎮三組"`` -> ``"魏岗镇三组"``."""
    s = _ADDR_JUNK_RE.sub("", _script(text))
    return _ADDR_PREFIX_RE.sub("", s)


def _address_numbers(text: str) -> str:
    """Numbered parts, of one address or of many, a line each:
    ``"魏岗镇第三组十二号"`` -> ``"魏岗镇3组12号"``."""
    return _ADDR_NUMBERED_RE.sub(_numbered, text)


def addresses(values: Column) -> pa.Array:
    """Bulk :func:`address` (dictionary-encoded: each distinct address normalised once).

    ``["亳州市谯城区三合村三组", "三合村3组"]`` -> ``["三合村3组", "三合村3组"]``

    Two levels: the distinct raw values are cleaned (script, prefix), and the numbered
    parts are rewritten once per distinct *cleaned* value, since prefix and script
    variants of one address collapse there.
    """
    cleaned = _map_distinct_lines(_as_string_array(values), _address_text)
    return _map_distinct_lines(cleaned, _address_numbers)
