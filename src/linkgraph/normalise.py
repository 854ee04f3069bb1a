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

__all__ = [
    "ResidentId",
    "check_character",
    "name",
    "names",
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
    trimmed = pc.replace_substring_regex(arr, _TRIM_PATTERN, "")
    cleaned = pc.utf8_normalize(trimmed, "NFKC")
    cleaned = pc.replace_substring_regex(cleaned, _ID_JUNK_PATTERN, "")
    cleaned = pc.replace_substring(cleaned, "x", "X")

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

    as_given = pc.fill_null(pc.and_(is18, pc.equal(cleaned, trimmed)), False)
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
    s = unicodedata.normalize("NFKC", raw)
    s = _INVISIBLE_RE.sub("", s)
    s = _T2S.convert(s)
    s = _HAN_SEP_RE.sub("", s).lower() if _HAN_RE.search(s) else _latin_name(s)
    return s or None


def names(values: Column) -> pa.Array:
    """Bulk :func:`name` (dictionary-encoded: distinct values only).

    ``["歐陽秀英", "欧阳秀英", None]`` -> ``["欧阳秀英", "欧阳秀英", None]``
    """
    return _map_distinct(_as_string_array(values), name, pa.string())


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
    syllables = lazy_pinyin(n, style=Style.NORMAL)
    words = [w for chunk in syllables for w in _ascii_words(chunk)]
    return " ".join(words) if words else n


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
    cache: dict[str, str] = {}

    def key(raw: str) -> str | None:
        n = name(raw)
        if n is None:
            return None
        hit = cache.get(n)
        if hit is None:
            hit = cache[n] = _pinyin_of_name(n)
        return hit

    return _map_distinct(_as_string_array(values), key, pa.string())
