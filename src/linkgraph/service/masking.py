"""Masking of identifiers in responses: only roles that need them see them whole.

``mask_id_number("341602194903150123")`` -> ``"3416**********0123"``;
``mask_phone("13812345678")`` -> ``"138****5678"``.
"""

from __future__ import annotations


def mask_id_number(value: str | None) -> str | None:
    """Keep the first 4 and last 4 characters of a resident ID number (GB 11643-1999).

    ``"34160219490315012X"`` -> ``"3416**********012X"``; 15-digit legacy numbers likewise.
    """
    if not value:
        return value
    if len(value) <= 8:
        return "*" * len(value)
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str | None) -> str | None:
    """Keep the first 3 and last 4 digits: ``"13812345678"`` -> ``"138****5678"``."""
    if not value:
        return value
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_account(value: str | None) -> str | None:
    """A bank account keeps its last 4 digits: ``"6222021234567890"`` -> ``"************7890"``."""
    if not value:
        return value
    return "*" * max(0, len(value) - 4) + value[-4:]
