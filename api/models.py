"""Request and response bodies (one Base/Public pair per resource; lists are ``{data, count}``)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from linkgraph.policy import Relation
from linkgraph.service.rows import UnicodeModel

#: ``pattern``: not blank (bodies strip the spaces around a text before checking it).
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"\S")]
IdNumber = Annotated[
    str, Field(min_length=1, max_length=32, pattern=r"\S", description="Resident ID number.")
]
BatchId = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9._:-]+$",
        description="The sender's id of this batch: a retry with the same id adds nothing.",
    ),
]
MAX_ROWS = 10_000


class _In(UnicodeModel):
    """A request body: unknown fields refused, strings stripped and valid Unicode."""

    # Patterns are read as the OpenAPI document's readers read them (Python's re).
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, regex_engine="python-re")


#: At least 3 characters, neither first nor last a space, as the pattern says. (Not
#: stripped, and "space" spelled out, so this schema and the check agree on what a
#: space is: readers of the OpenAPI document and Python differ on characters like U+0085.)
Why = Annotated[
    str,
    StringConstraints(
        strip_whitespace=False,
        min_length=3,
        max_length=500,
        pattern=r"^[^ \t\n\r\f\v][\s\S]+[^ \t\n\r\f\v]$",
    ),
]


# ------------------------------------------------------------------ recognition

RecognitionStatus = Literal[
    "recognised",
    "warning",
    "hold",
    "stopped",
    "ended",
    "not_certified",
    "not_enrolled",
    "unknown_person",
]


class RecognitionRequest(_In):
    id_number: IdNumber
    item_code: Code


class Recognition(BaseModel):
    """Whether a person is recognised (alive and certified) for one of their benefit items."""

    id_number: str | None = Field(description="As given; masked unless the role needs it whole.")
    item_code: str
    person_id: str | None
    enrollment_id: str | None
    status: RecognitionStatus
    pending: bool = Field(description="A hold awaiting a human's confirmation: not yet decided.")
    valid_until: dt.date | None
    method: str | None = Field(description="strong | corroborated_weak | manual | none")
    basis: str = Field(description="Short reason for the status.")


class BulkRecognitionRequest(_In):
    item_code: Code
    id_numbers: list[IdNumber] = Field(min_length=1, max_length=MAX_ROWS)


class RecognitionRow(Recognition):
    index: int = Field(description="Position of the ID number in the request.")


class RecognitionsPublic(BaseModel):
    data: list[RecognitionRow]
    count: int


# ------------------------------------------------------------------ batches


class RosterBatch(_In):
    rows_checked_alone = frozenset({"changes"})
    batch_id: BatchId
    changes: list[Any] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description="Rows of RosterChangeRow; each is checked alone (bad rows are named).",
    )


class EventBatch(_In):
    rows_checked_alone = frozenset({"events"})
    batch_id: BatchId
    events: list[Any] = Field(
        min_length=1,
        max_length=MAX_ROWS,
        description="Rows of EventRow; each is checked alone (bad rows are named).",
    )


class RowError(BaseModel):
    index: int = Field(description="0-based position of the row in the batch.")
    field: str
    reason: str
    key: str | None = Field(description="The row's record or event id, when it had one.")


class BatchResult(BaseModel):
    """Which rows were accepted and which refused (with field and reason)."""

    batch_id: str
    replayed: bool = Field(description="True when this batch id was already accepted.")
    received: int
    accepted: list[int] = Field(description="Indices of the rows written.")
    repeated: list[int] = Field(description="Indices of rows repeating an earlier row.")
    rejected: list[RowError]
    unlinked: list[int] | None = Field(
        default=None, description="Accepted events whose identifier matched nobody (kept aside)."
    )
    persons: dict[str, str] | None = Field(
        default=None, description="New enrolments: record_id -> person_id."
    )


# ------------------------------------------------------------------ resolution


class ResolveRequest(_In):
    record: dict[str, str | int | None] = Field(
        description="A roster-like record: record_id, name, id_number, birth_date, phone, ..."
    )


class Candidate(BaseModel):
    record_id: str
    person_id: str
    match_probability: float


class ResolutionPublic(BaseModel):
    record_id: str
    person_id: str | None
    new_person: bool
    band: str
    match_probability: float
    candidates: list[Candidate]


class ExplainRequest(_In):
    record_a: Code
    record_b: Code


class FieldEvidence(BaseModel):
    field: str
    level: str
    left: Any
    right: Any
    m: float
    u: float
    weight: float
    tf_adjustment: float
    total: float


class ExplanationPublic(BaseModel):
    record_a: str
    record_b: str
    person_a: str
    person_b: str
    prior_weight: float
    fields: list[FieldEvidence]
    score: float
    match_probability: float
    band: str


class ReviewDecision(_In):
    decision: Literal["link", "split"] = Field(description="Same person, or different persons.")
    record_a: Code
    record_b: Code
    why: Why
    dry_run: bool = Field(
        default=False, description="Only show what the decision would change; record nothing."
    )


class ReviewPublic(BaseModel):
    decision: str
    record_a: str
    record_b: str
    who: str
    why: str
    effective: str
    persons_now: list[str]
    effect: list[str] = Field(
        description="What changes at the next linkage run: persons merged or split, records moved."
    )


# ------------------------------------------------------------------ investigators


class Row360(BaseModel):
    kind: str
    id: str | None
    detail: str | None
    since: dt.date | None
    until: dt.date | None
    note: str | None


class Person360(BaseModel):
    person_id: str
    data: list[Row360]
    count: int


class QueryParam(BaseModel):
    name: str
    type: str
    required: bool
    example: Any
    doc: str


class QueryInfo(BaseModel):
    name: str
    summary: str
    columns: list[str]
    parameters: list[QueryParam]


class QueriesPublic(BaseModel):
    data: list[QueryInfo]
    count: int


class QueryRequest(_In):
    params: dict[str, str | int | None] = Field(default_factory=dict)


class QueryResult(BaseModel):
    name: str
    data: list[dict[str, Any]]
    count: int


class FlagPublic(BaseModel):
    flag_id: str
    kind: str | None
    status: str
    amount_at_risk: int | None
    months: int | None
    detail: str | None
    person_ids: list[str]
    enrollment_ids: list[str]
    recovered: int | None = None
    written_off: int | None = None


class FlagsPublic(BaseModel):
    data: list[FlagPublic]
    count: int


class FlagMove(_In):
    """Confirm, dismiss or reopen a flag, or reverse the last decision still in effect."""

    to: Literal["confirmed", "dismissed", "open", "reverse"] = Field(
        description="open → confirmed | dismissed; dismissed → open (reopened); reverse"
        " undoes the last decision still in effect, as a new step."
    )
    why: Why


_OVER_RECOVERY = Field(
    default=None,
    min_length=3,
    max_length=500,
    description="Why the recovered total may exceed the amount at risk (interest, ...).",
)


class FlagRecovery(_In):
    """Record money recovered on a confirmed flag: partial recoveries add up (recovering,
    then recovered at the amount at risk); beyond it only with a reason. ``kind``: cash
    (paid back) or offset (arrears the person is owed, kept against what they owe)."""

    to: Literal["recovered"]
    why: Why
    amount: int = Field(ge=1, le=10**10, description="Yuan recovered this time.")
    kind: Literal["cash", "offset"] = Field(
        default="cash", description="cash: paid back; offset: kept from arrears owed."
    )
    over_recovery_reason: str | None = _OVER_RECOVERY


class FlagWriteOff(_In):
    """Close a confirmed flag whose money cannot be recovered (the person died with no
    estate ...): the amount written off, at most what is left, counted apart from recoveries."""

    to: Literal["written_off"]
    why: Why
    amount: int = Field(ge=1, le=10**10, description="Yuan written off: at most what is left.")


class FlagCorrection(_In):
    """Set the amount at risk of a confirmed flag right; its status follows from it."""

    to: Literal["corrected"]
    why: Why
    amount: int = Field(ge=1, le=10**10, description="The right amount at risk (yuan).")
    over_recovery_reason: str | None = _OVER_RECOVERY


FlagTransition = Annotated[
    FlagMove | FlagRecovery | FlagWriteOff | FlagCorrection, Field(discriminator="to")
]


# ------------------------------------------------------------------ grid workers


class TaskPublic(BaseModel):
    task_id: str
    kind: str | None
    status: str
    due_on: dt.date | None
    reason: str | None
    grid: str | None
    person_id: str
    name: str | None
    id_number: str | None
    phone: str | None


class TasksPublic(BaseModel):
    data: list[TaskPublic]
    count: int


class Visit(_In):
    result: Literal["seen_alive", "deceased", "left", "moved", "not_found"] = Field(
        description="seen_alive certifies (manual check); deceased stops payment (a human"
        " confirmed it); left (gone from the city for good: settled abroad, registration"
        " moved out) stops it after the month they left; moved (within reach) and not_found"
        " leave the task open for a follow-up."
    )
    on: dt.date = Field(description="The day of the visit: not before 1900, not in the future.")
    note: str = Field(default="", max_length=500)


class EnrollmentChange(BaseModel):
    enrollment_id: str
    item_code: str
    status: str | None


class VisitPublic(BaseModel):
    task_id: str
    status: str
    result: str
    enrollments: list[EnrollmentChange]


# ------------------------------------------------------------------ citizens


class StopRequest(_In):
    """A request to stop a person's benefits, by the person or someone acting for them.

    The citizen portal names the verified requester (``requester_id_number``) and their
    relation to the person. A request by the person themself (``self``) holds the
    payments at once; one by anyone else is a check for a case worker and takes effect
    only once confirmed (policy ``stop_requests``). A department's key stops only its
    own items.
    """

    id_number: IdNumber = Field(description="The person whose benefits should stop.")
    item_codes: list[Code] | None = Field(
        default=None,
        max_length=32,
        description="Items to stop; when absent, all the caller may stop (a department's own).",
    )
    requested_by: Relation = Field(
        description="The requester's relation to the person; which relations hold at once is"
        " the policy's ``stop_requests.hold_at_once`` (the person themself)."
    )
    requester_id_number: IdNumber | None = Field(
        default=None,
        description="The verified requester's ID number; required from the citizen portal,"
        " and the person's own for ``self``.",
    )
    reason: str = Field(min_length=2, max_length=500)


class HeldEnrollment(BaseModel):
    enrollment_id: str
    item_code: str
    status: str
    pending: bool


class StopRequestPublic(BaseModel):
    request_id: str
    status: Literal["pending"]
    held: bool = Field(description="Whether the payments are held now (a request by the person).")
    enrollments: list[HeldEnrollment]
    detail: str


# ------------------------------------------------------------------ tip-offs


class TipOff(_In):
    """A report that a beneficiary may no longer be eligible (moved away, died, in prison),
    by a village committee or a member of the public, as the caller received it.

    It never stops or holds a payment: it becomes a door check for the person's grid
    worker, due within the policy's ``tipoffs.visit_within_days``; the visit's finding is
    evidence. The same report (person, reporter, words, day) sent again is kept once.
    """

    id_number: IdNumber = Field(description="The person the tip-off is about.")
    reported_by: str = Field(
        min_length=1,
        max_length=200,
        pattern=r"\S",
        description="Who reported it: a village committee, a neighbour, a relative ...",
    )
    says: str = Field(min_length=1, max_length=500, pattern=r"\S", description="What they report.")
    on: dt.date | None = Field(
        default=None,
        description="The day it was received (default: today): not before 1900, not in the future.",
    )


class TipOffPublic(BaseModel):
    tipoff_id: str
    person_id: str
    received_on: dt.date
    held: Literal[False] = Field(description="A tip-off never holds a payment.")
    task_id: str | None = Field(description="The door check it gave (None: not yet, see detail).")
    grid: str | None
    due_on: dt.date | None
    detail: str


# ------------------------------------------------------------------ operations


class AuditEntryPublic(BaseModel):
    """One request: who (key), why, what it asked about, and how it was answered."""

    seq: int
    at: str
    request_id: str | None = Field(default=None, description="As the answer's X-Request-Id.")
    key_id: str | None = Field(default=None, description="None: no valid key was given.")
    actor: str | None
    role: str | None
    purpose: str
    method: str | None = None
    route: str | None = None
    status: int | None = None
    outcome: str | None = Field(default=None, description="ok, or the error answered.")
    action: str
    subjects: list[str]
    asked: list[str] = Field(
        default_factory=list, description="Keyed hashes of the ID numbers asked about."
    )
    detail: dict[str, Any]


class AuditPublic(BaseModel):
    data: list[AuditEntryPublic]
    count: int


class Ready(BaseModel):
    store: str
    #: False when the version in service was made without a graph (``linkgraph certify``):
    #: recognition and intake work; the graph's queries answer 502 and say why.
    graph: bool = True
    version: str | None = None  # the run whose results are served
    persons: int
    enrollments: int
    loaded_at: str


class ErrorBody(BaseModel):
    error: str
    detail: Any
    request_id: str | None = None


#: Error answers every /v1 route may give, documented once (each is an ErrorBody).
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or unknown API key."},
    403: {"model": ErrorBody, "description": "The key's role or scope does not allow this."},
    404: {"model": ErrorBody, "description": "Not there, or not visible to this key."},
    409: {"model": ErrorBody, "description": "Contradicts the current state."},
    413: {"model": ErrorBody, "description": "Request body over the size limit."},
    422: {"model": ErrorBody, "description": "The request (or a parameter) is malformed."},
    503: {
        "model": ErrorBody,
        "description": "The graph store cannot be reached; see Retry-After.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
    },
}
