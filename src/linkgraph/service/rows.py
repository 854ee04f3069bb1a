"""Rows of the write batches, validated one at a time so a bad row names itself.

A batch arrives as a list of JSON objects. Each is checked against its row
model here (types, required fields); a failing row becomes a :class:`RowError`
with its 0-based index, the field and the reason, and the other rows go on to
the library's own rules (:func:`linkgraph.ingest.validate_roster`,
:func:`linkgraph.ingest.validate_events`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    field_validator,
)

from linkgraph.ingest import Rejected

Text = Annotated[str, Field(min_length=1, max_length=200)]
M = TypeVar("M", bound=BaseModel)


def unicode_text(value: Any) -> Any:
    """``value`` if every string in it is valid Unicode; a lone surrogate (``"\\ud800"``,
    which JSON allows and UTF-8 cannot hold) is refused as the field's error, never left
    to fail later as a server error."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("not valid Unicode text (a lone surrogate)") from None
    elif isinstance(value, dict):
        for k, v in value.items():
            unicode_text(k)
            unicode_text(v)
    elif isinstance(value, list | tuple):
        for v in value:
            unicode_text(v)
    return value


class UnicodeModel(BaseModel):
    """A request body or row whose strings must all be valid Unicode (:func:`unicode_text`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    #: Fields of rows that are checked one at a time (a bad row is named, not the batch).
    rows_checked_alone: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _unicode(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.rows_checked_alone:
            return value
        return unicode_text(value)


class _Row(UnicodeModel):
    pass


class Change(StrEnum):
    NEW = "new"
    CHANGED = "changed"
    ENDED = "ended"


class RosterChangeRow(_Row):
    """One enrolment change from a department's roster."""

    change: Change = Field(description="new enrolment, changed enrolment, or ended enrolment.")
    record_id: Text = Field(description="The department's record id (the enrolment's id).")
    item_code: Text | None = Field(default=None, description="Benefit item; required for new.")
    department: Text | None = Field(
        default=None, description="Defaults to the key's department; must match it."
    )
    name: Text | None = None
    id_number: Text | None = None
    gender: Text | None = None
    birth_date: Text | None = None
    phone: Text | None = None
    address: Annotated[str, Field(max_length=500)] | None = None
    sscard_no: Text | None = None
    bank_account: Text | None = None
    enrolled_on: dt.date | None = None
    paid_until: dt.date | None = None
    monthly_amount: int | None = Field(default=None, ge=-(2**31), lt=2**31)
    ended_on: dt.date | None = Field(default=None, description="For ended: the last day paid.")
    reason: Annotated[str, Field(max_length=500)] | None = None


class EventRow(_Row):
    """One evidence event from a channel (the columns of ``linkgraph.tables.EVENT``)."""

    event_id: int = Field(ge=0, lt=2**63, description="The channel's event id (idempotency key).")
    channel: Text
    occurred_on: dt.date
    reported_on: dt.date
    id_number: Text | None = None
    sscard_no: Text | None = None
    phone: Text | None = None
    name: Text | None = None
    birth_date: Text | None = None


@dataclass(frozen=True, slots=True)
class RowError:
    """A refused row: its 0-based index in the batch, the field and why."""

    index: int
    field: str
    reason: str
    key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "field": self.field, "reason": self.reason, "key": self.key}


def parse_rows(
    rows: list[Any], model: type[M], key: str
) -> tuple[list[tuple[int, M]], list[RowError]]:
    """``(index, row)`` of every row that fits ``model``; a RowError for each that does not."""
    adapter = TypeAdapter(model)
    good: list[tuple[int, M]] = []
    bad: list[RowError] = []
    for index, raw in enumerate(rows):
        try:
            good.append((index, adapter.validate_python(raw)))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "row"
            value = raw.get(key) if isinstance(raw, dict) else None
            bad.append(RowError(index, field, first["msg"], None if value is None else str(value)))
    return good, bad


def from_rejected(rejected: Rejected, indices: list[int]) -> RowError:
    """A library rejection (1-based row among ``indices``) as a RowError of the whole batch."""
    return RowError(indices[rejected.row - 1], rejected.field, rejected.reason, rejected.key)
