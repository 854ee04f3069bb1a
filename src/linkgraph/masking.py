"""Masking of identifiers: how an ID number, a phone or a bank account is shown to someone
who may not see it whole, and how the data at rest keeps them where it need not.

``mask_id_number("341602194903150123")`` -> ``"3416**********0123"``;
``mask_phone("13812345678")`` -> ``"138****5678"``; ``mask_account("6222021234567890")``
-> ``"************7890"``. The service decides who sees what
(:mod:`linkgraph.service.masking`); flags keep their identifiers masked
(:func:`linkgraph.flags.detect`).
"""

from __future__ import annotations


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
