"""Masking of identifiers in responses: only roles that need them see them whole.

``mask_id_number("341602194903150123")`` -> ``"3416**********0123"``;
``mask_phone("13812345678")`` -> ``"138****5678"``. :func:`shown_id`,
:func:`shown_phone`, :func:`shown_row` and :func:`shown_explanation` apply them for a
caller who may not see them whole (the API's roles that do not need them; the command
line unless a purpose is stated).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from linkgraph.masking import mask_account, mask_id_number, mask_phone

if TYPE_CHECKING:
    from linkgraph.service.caller import Caller


def shown_id(caller: Caller, value: str | None) -> str | None:
    """A resident ID number as ``caller`` may see it."""
    return value if caller.unmasked else mask_id_number(value)


def shown_phone(caller: Caller, value: str | None) -> str | None:
    """A phone number as ``caller`` may see it."""
    return value if caller.unmasked else mask_phone(value)


def shown_row(caller: Caller, row: dict[str, Any]) -> dict[str, Any]:
    """A library query's row as ``caller`` may see it: phones, bank accounts and ID numbers."""
    if caller.unmasked:
        return row
    out = dict(row)
    if out.get("kind") == "phone":
        for k in ("id", "number"):
            if isinstance(out.get(k), str):
                out[k] = mask_phone(out[k])
    if out.get("kind") == "bank_account" and isinstance(out.get("number"), str):
        out["number"] = mask_account(out["number"])
    if isinstance(out.get("id_number"), str):
        out["id_number"] = mask_id_number(out["id_number"])
    return out


def shown_explanation(caller: Caller, data: dict[str, Any]) -> dict[str, Any]:
    """A linkage explanation (``Explanation.to_dict()``) as ``caller`` may see it: the
    compared values of identifier and phone fields."""
    if caller.unmasked:
        return data
    fields = []
    for f in data["fields"]:
        f = dict(f)
        name = f["field"]
        if "id" in name or "sscard" in name or "account" in name:
            f["left"], f["right"] = (
                mask_id_number(_text(f["left"])),
                mask_id_number(_text(f["right"])),
            )
        if "phone" in name:
            f["left"], f["right"] = mask_phone(_text(f["left"])), mask_phone(_text(f["right"]))
        fields.append(f)
    return {**data, "fields": fields}


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
