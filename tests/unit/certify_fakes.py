"""Small hand-built inputs for the certification tests: a few persons, events, enrolments."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pyarrow as pa

from linkgraph.policy import Policy
from linkgraph.tables import ENROLLMENT, LINKED_EVENT, PERSON

D = dt.date
_ids = itertools.count(1)
ENROLLED = D(2020, 1, 1)
LAST_PAID = D(2026, 12, 1)


def policy(**changes: Any) -> Policy:
    """The seed policy, with top-level fields replaced (``baseline_certified_on=None`` ...)."""
    data = Policy.load().to_dict()
    data.update(changes)
    return Policy.from_path_or_dict(data)


def weak_rule(p: Policy) -> dict[str, Any]:
    return next(r for r in p.to_dict()["rules"] if r["kind"] == "corroborated_weak")


def ev(
    person: str,
    channel: str,
    occurred: dt.date,
    reported: dt.date | None = None,
    linked_by: str = "id_number",
) -> dict[str, Any]:
    return {
        "event_id": next(_ids),
        "channel": channel,
        "occurred_on": occurred,
        "reported_on": reported or occurred,
        "person_id": person,
        "linked_by": linked_by,
    }


def events(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=LINKED_EVENT)


def persons(*ids: str, **fields: dict[str, Any]) -> pa.Table:
    rows = []
    for i, pid in enumerate(ids):
        row: dict[str, Any] = {name: None for name in PERSON.names}
        row.update(
            person_id=pid,
            name=f"张{pid}",
            id_number=f"34160219500101{i:04d}",
            address=f"亳州市谯城区王楼村{i + 1}组{i + 1}号",
            village="341602001001",
            grid=f"341602001001G{i + 1:03d}",
            district="341602",
        )
        row.update(fields.get(pid, {}))
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=PERSON)


def enrolment(
    eid: str,
    person: str,
    item: str = "URRP",
    *,
    department: str = "HRSS",
    amount: int = 190,
    enrolled: dt.date = ENROLLED,
    paid_until: dt.date = LAST_PAID,
    bank: str | None = None,
) -> dict[str, Any]:
    return {
        "enrollment_id": eid,
        "person_id": person,
        "item_code": item,
        "department": department,
        "enrolled_on": enrolled,
        "paid_until": paid_until,
        "monthly_amount": amount,
        "bank_account": bank,
    }


def enrolments(*rows: dict[str, Any]) -> pa.Table:
    return pa.Table.from_pylist(list(rows), schema=ENROLLMENT)


def row(table: pa.Table, key: str, value: str) -> dict[str, Any]:
    """The one row of ``table`` whose ``key`` is ``value``."""
    found = [r for r in table.to_pylist() if r[key] == value]
    assert len(found) == 1, f"{len(found)} rows with {key}={value}"
    return found[0]


def weak_burst(person: str, start: dt.date, channels: list[str], days: int) -> list[dict[str, Any]]:
    """One event per channel per day for ``days`` days from ``start``."""
    return [ev(person, ch, start + dt.timedelta(days=d)) for d in range(days) for ch in channels]
