"""Masking of identifiers: how an ID number, a phone or a bank account is shown to someone
who may not see it whole, and how the data at rest keeps them where it need not.

``mask_id_number("341602194903150123")`` -> ``"3416**********0123"``;
``mask_phone("13812345678")`` -> ``"138****5678"``; ``mask_account("6222021234567890")``
-> ``"************7890"``; ``mask_name("王秀英")`` -> ``"王*英"``. The service decides who
sees what (:mod:`linkgraph.service.masking`); flags keep their identifiers masked
(:func:`linkgraph.flags.detect`); a graph projected into Neo4j for analysts holds only
these forms, and :func:`pseudonym` stands in for a phone, account or address it keys a
node by (:func:`linkgraph.graph.model.for_audience`).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Any


def mask_id_number(value: str | None) -> str | None:
    """Keep the first 4 and last 4 characters of a resident ID number (GB 11643-1999).

    ``"34160219490315012X"`` -> ``"3416**********012X"``; 15-digit legacy numbers likewise.
    """
    return _keep_ends(value, 4, 4)


def mask_phone(value: str | None) -> str | None:
    """Keep the first 3 and last 4 digits: ``"13812345678"`` -> ``"138****5678"``."""
    return _keep_ends(value, 3, 4)


def _keep_ends(value: str | None, head: int, tail: int) -> str | None:
    """``value`` with all but its first ``head`` and last ``tail`` characters starred; a
    value no longer than those ends is starred whole (nothing of it would be hidden)."""
    if not value:
        return value
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[-tail:]


def mask_account(value: str | None) -> str | None:
    """A bank account keeps its last 4 digits: ``"6222021234567890"`` -> ``"************7890"``."""
    if not value:
        return value
    return "*" * max(0, len(value) - 4) + value[-4:]


def mask_name(value: str | None) -> str | None:
    """Keep a name's first and last characters: ``"王秀英"`` -> ``"王*英"``, ``"欧阳秀英"`` ->
    ``"欧**英"``; a two-character name keeps its first (``"李明"`` -> ``"李*"``), a
    one-character name is kept. What the Browser captions a Person with (``masked_name``).
    One name of :func:`mask_names`, the rule."""
    import pyarrow as pa  # loaded only where names are masked (the CLI starts without it)

    masked: str | None = mask_names(pa.array([value], pa.string()))[0].as_py()
    return masked


def mask_names(values: Any) -> Any:
    """:func:`mask_name` of each name of an Arrow string column, in Arrow compute (a city's
    1.36 M persons take no Python loop)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    length = pc.utf8_length(values)
    stars = pc.binary_repeat(pa.scalar("*"), pc.max_element_wise(pc.subtract(length, 2), 1))
    last = pc.if_else(pc.greater(length, 2), pc.utf8_slice_codeunits(values, -1), "")
    kept = pc.binary_join_element_wise(pc.utf8_slice_codeunits(values, 0, 1), stars, last, "")
    return pc.if_else(pc.less_equal(length, 1), values, kept)


#: Hex digits of a pseudonym's tag: 48 bits, so the ~0.5 M addresses of a city (tagged with
#: nothing else to tell them apart) share one by chance about once in two thousand cities.
PSEUDONYM_HEX = 12


def pseudonym(key: bytes, value: str | None, shown: str | None = None) -> str | None:
    """A stand-in for ``value`` that tells it apart from every other value without showing
    it: ``shown`` (its masked form, if any) and a keyed hash of it (HMAC-SHA256 under
    ``key``, :data:`PSEUDONYM_HEX` hex digits).

    ``pseudonym(k, "13812345678", mask_phone("13812345678"))`` -> ``"138****5678 #5f0c…"``.
    The same value under the same key gives the same stand-in, so a phone two persons share
    is still one node; without the key, the hidden digits cannot be tried one by one
    against the tag (an unkeyed hash of a phone number's four hidden digits could).
    """
    if value is None:
        return None
    tag = hmac.new(key, value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
    return f"{shown} #{tag[:PSEUDONYM_HEX]}" if shown else f"#{tag[:PSEUDONYM_HEX]}"


def secret_key(path: Path) -> bytes:
    """A hashing key kept in ``path``: read, or created 0600 on first use (written aside and
    linked into place, so a process starting alongside never reads half a key)."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        aside = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(aside, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
        aside.unlink()
    return path.read_bytes()
