"""Flags: claims that comparing data across departments shows to be wrong, and their workflow.

:func:`detect` finds, in one SQL pass per kind over resolved identities (never raw
ID strings):

``duplicate_enrolment``
    one person enrolled twice or more in one item;
``exclusive_conflict``
    one person in two items of one exclusive group (two basic pensions ...);
``paid_after_death``
    an enrolment paid for months after the month of death (one flag per enrolment,
    so each department recovers its own money);
``shared_bank_account`` / ``shared_phone``
    one account or phone used by payees of different households (a couple at one
    address sharing a phone is not flagged);
``id_name_mismatch``
    one ID number carried by persons of different names.

``flag_id`` hashes the kind and the flag's key (person and item, account ...), so
the same finding gets the same id on every run and :func:`merge` keeps the
investigators' work. :func:`transition` moves a flag through
``open → confirmed | dismissed``, ``dismissed → open``, and works a confirmed
flag's money:

* recoveries may be partial and add up, the flag ``recovering`` until they reach
  the amount at risk, then ``recovered``; each is ``cash`` (paid back) or an
  ``offset`` (arrears the person is owed, kept against what they owe). More than
  the amount at risk needs its own reason (interest, months the detection did not see);
* ``written_off`` closes a flag whose money cannot be recovered (the person died
  with no estate): the amount written off, at most what is left, is counted apart
  from money recovered;
* ``corrected`` sets the amount at risk right (the detection's was wrong) and
  derives the recovery status again from it.

A wrong decision is never edited away: ``reverse`` appends a step undoing the last
decision still in effect. Every step records who, when, why and how much.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
from duckdb.sqltypes import VARCHAR
from pydantic import BaseModel, ConfigDict, Field

from linkgraph import duck
from linkgraph.catalogue import Catalogue
from linkgraph.certify import CERTIFICATION
from linkgraph.decisions import (
    DECISIONS,
    RECOVERY_KINDS,
    WITH_AMOUNT,
    FlagDecision,
    FlagStatus,
    RecoveryKind,
)
from linkgraph.errors import InputError
from linkgraph.masking import mask_account, mask_id_number, mask_phone
from linkgraph.policy import Policy
from linkgraph.recognise import OFFSET
from linkgraph.tables import DATE, ENROLLMENT, PERSON, STR, STR_LIST, conform

FLAG_KINDS = (
    "duplicate_enrolment",
    "exclusive_conflict",
    "paid_after_death",
    "shared_bank_account",
    "shared_phone",
    "id_name_mismatch",
)
#: Allowed decisions from each status (``reverse`` is allowed from any, see :func:`transition`).
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("confirmed", "dismissed"),
    "confirmed": ("recovered", "written_off", "corrected", "dismissed"),
    "recovering": ("recovered", "written_off", "corrected"),
    "dismissed": ("open",),
    "recovered": ("corrected",),
    "written_off": (),
}
#: What the amount of a step is: money paid back, kept from arrears, or written off.
MONEY = ("cash", "offset", "written_off")

FLAG = pa.schema(
    [
        ("flag_id", STR),
        ("kind", STR),
        ("key", STR),  # what the flag is about: person|item, account, phone, id number (masked)
        ("person_ids", STR_LIST),
        ("enrollment_ids", STR_LIST),
        ("evidence_event_keys", STR_LIST),
        ("amount_at_risk", pa.int64()),  # yuan; for shared accounts/phones: per month
        ("months", pa.int32()),
        ("detail", STR),
        ("raised_on", DATE),
        ("status", STR),
        ("amount_recovered", pa.int64()),
        ("history", STR),  # JSON list of transitions
        ("severity", STR),  # suspicious | review | routine (policy [flags], see grade)
    ]
)


class IllegalTransition(InputError):
    """A flag was asked to move where its workflow does not go."""


class Transition(BaseModel):
    model_config = ConfigDict(frozen=True)

    at: dt.datetime
    who: str
    from_status: str
    to_status: str
    why: str
    amount: int | None = None
    #: What ``amount`` is: ``cash`` or ``offset`` recovered, or ``written_off`` (also on
    #: the reversal of such a step, with the amount negated). None on older steps.
    money: str | None = None
    #: Why a recovery goes beyond the amount at risk (interest, other months).
    over_recovery_reason: str | None = None
    #: A correction: the amount at risk before and after it (swapped by its reversal).
    at_risk_before: int | None = None
    at_risk_after: int | None = None
    #: The index in the history of the step this one reverses.
    reverses: int | None = None


class Flag(BaseModel):
    """One flag with its workflow state; rows of :data:`FLAG` convert to and from it."""

    model_config = ConfigDict(frozen=True)

    flag_id: str
    kind: str
    key: str
    person_ids: tuple[str, ...]
    enrollment_ids: tuple[str, ...]
    evidence_event_keys: tuple[str, ...] = ()
    amount_at_risk: int = 0
    months: int = 0
    detail: str = ""
    raised_on: dt.date | None = None
    status: FlagStatus = "open"
    amount_recovered: int = 0
    history: tuple[Transition, ...] = Field(default=())
    severity: str | None = None

    @property
    def amount_written_off(self) -> int:
        """Yuan written off (in effect: a reversed write-off counts no more)."""
        return sum(h.amount or 0 for h in self.history if h.money == "written_off")


def transition(
    flag: Flag,
    to: FlagDecision,
    who: str,
    why: str,
    amount: int | None = None,
    *,
    over_recovery_reason: str | None = None,
    recovery_kind: RecoveryKind | None = None,
    at: dt.datetime | None = None,
) -> Flag:
    """``flag`` after ``who``'s decision ``to`` for ``why`` (a new Flag; the old one is unchanged).

    ``recovered`` records ``amount`` yuan recovered (≥ 1), ``recovery_kind`` ``cash``
    (the default) or ``offset`` (kept from arrears the person is owed): the recoveries
    add up, and the flag is ``recovering`` until they reach the amount at risk,
    ``recovered`` from then on. A total beyond the amount at risk is refused unless
    ``over_recovery_reason`` says why. ``written_off`` closes the flag with ``amount``
    written off, at most what is left to recover (a later run may find more at risk, as
    payments went on: the write-off still holds). ``corrected`` sets the amount at risk to
    ``amount`` and derives the status from it (``confirmed`` with nothing recovered,
    else ``recovering`` or ``recovered``). ``reverse`` undoes the last step still in
    effect (status and amounts), as a new step: history is never edited.

    >>> f = Flag(flag_id="F1", kind="paid_after_death", key="k", person_ids=("P",),
    ...          enrollment_ids=("E",), amount_at_risk=380)
    >>> f = transition(f, "confirmed", "inspector Li", "family confirmed the death")
    >>> transition(f, "recovered", "clerk Zhao", "first instalment", 200).status
    'recovering'
    >>> transition(f, "corrected", "clerk Zhao", "two months, not three", 190).amount_at_risk
    190
    """
    name = f"flag {flag.flag_id}"
    if not who.strip() or not why.strip():
        raise IllegalTransition(f"{name}: a decision needs who and why")
    if to not in DECISIONS:
        raise IllegalTransition(
            f"{name}: unknown decision {to!r} (allowed: {', '.join(DECISIONS)})"
        )
    if to not in WITH_AMOUNT and amount is not None:
        raise IllegalTransition(f"{name}: only {', '.join(WITH_AMOUNT)} take an amount")
    if to not in ("recovered", "corrected") and over_recovery_reason:
        raise IllegalTransition(
            f"{name}: only recovered and corrected take an over-recovery reason"
        )
    if to != "recovered" and recovery_kind is not None:
        raise IllegalTransition(f"{name}: only recovered takes a recovery kind (cash, offset)")
    if recovery_kind is not None and recovery_kind not in RECOVERY_KINDS:
        raise IllegalTransition(
            f"{name}: recovery kind {recovery_kind!r} (allowed: {', '.join(RECOVERY_KINDS)})"
        )
    if to == "reverse":
        return _reverse(flag, who, why, at)
    allowed = TRANSITIONS.get(flag.status, ())
    if to not in allowed:
        raise IllegalTransition(
            f"{name}: cannot move {flag.status} → {to}"
            f" (allowed from {flag.status}: {', '.join(allowed) or 'none'}; or reverse)"
        )
    if to in WITH_AMOUNT and (amount is None or amount < 1):
        what = {
            "recovered": "the amount recovered",
            "written_off": "the amount written off",
            "corrected": "the right amount at risk",
        }[to]
        raise IllegalTransition(f"{name}: {to} needs {what} (yuan ≥ 1)")
    status: str = to
    total = flag.amount_recovered
    at_risk = flag.amount_at_risk
    extra: dict[str, Any] = {}
    left = flag.amount_at_risk - flag.amount_recovered
    if to == "recovered":
        assert amount is not None
        total += amount
        if total > at_risk and not (over_recovery_reason or "").strip():
            raise IllegalTransition(
                f"{name}: amount {amount:,} would bring the recovered total to ¥{total:,},"
                f" beyond the ¥{at_risk:,} at risk"
                f" (¥{flag.amount_recovered:,} recovered so far); give the reason for the"
                " excess (interest, other months) as the over-recovery reason"
            )
        status = _recovery_status(total, at_risk)
        extra = {"money": recovery_kind or "cash", "over_recovery_reason": over_recovery_reason}
    elif to == "written_off":
        assert amount is not None
        if amount > left:
            raise IllegalTransition(
                f"{name}: a write-off is at most what is left to recover:"
                f" ¥{left:,} (¥{at_risk:,} at risk, ¥{flag.amount_recovered:,} recovered),"
                f" not ¥{amount:,}"
            )
        extra = {"money": "written_off"}
    elif to == "corrected":
        assert amount is not None
        if total > amount and not (over_recovery_reason or "").strip():
            raise IllegalTransition(
                f"{name}: ¥{total:,} is recovered already, beyond the corrected ¥{amount:,};"
                " give the reason for the excess as the over-recovery reason"
            )
        status = _recovery_status(total, amount)
        at_risk = amount
        extra = {
            "at_risk_before": flag.amount_at_risk,
            "at_risk_after": amount,
            "over_recovery_reason": over_recovery_reason,
        }
        amount = None  # the step's amount is money moved; a correction moves none
    step = Transition(
        at=at or _now(),
        who=who,
        from_status=flag.status,
        to_status=status,
        why=why,
        amount=amount,
        **extra,
    )
    return flag.model_copy(
        update={
            "status": status,
            "amount_recovered": total,
            "amount_at_risk": at_risk,
            "history": (*flag.history, step),
        }
    )


def _recovery_status(recovered: int, at_risk: int) -> str:
    """A confirmed flag's status from its money: nothing back, some, or all of it."""
    if recovered <= 0:
        return "confirmed"
    return "recovered" if recovered >= at_risk else "recovering"


def _reverse(flag: Flag, who: str, why: str, at: dt.datetime | None) -> Flag:
    """``flag`` with its last step still in effect undone, by one more step."""
    undone = {h.reverses for h in flag.history if h.reverses is not None}
    in_effect = [i for i, h in enumerate(flag.history) if h.reverses is None and i not in undone]
    if not in_effect:
        raise IllegalTransition(f"flag {flag.flag_id}: no decision in effect to reverse")
    index = in_effect[-1]
    last = flag.history[index]
    recovered = flag.amount_recovered
    if last.amount and last.money != "written_off":  # money recovered (cash or offset)
        recovered -= last.amount
    at_risk = flag.amount_at_risk
    if last.at_risk_before is not None:
        at_risk = last.at_risk_before
    step = Transition(
        at=at or _now(),
        who=who,
        from_status=flag.status,
        to_status=last.from_status,
        why=why,
        amount=-last.amount if last.amount else None,
        money=last.money if last.amount else None,
        at_risk_before=last.at_risk_after,
        at_risk_after=last.at_risk_before,
        reverses=index,
    )
    return flag.model_copy(
        update={
            "status": last.from_status,
            "amount_recovered": recovered,
            "amount_at_risk": at_risk,
            "history": (*flag.history, step),
        }
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def history_from_json(text: str | None) -> tuple[Transition, ...]:
    """A flag's ``history`` column (a JSON list of steps) as :class:`Transition` objects."""
    return tuple(Transition(**h) for h in json.loads(text or "[]"))


def history_to_json(history: tuple[Transition, ...]) -> str:
    return json.dumps([h.model_dump(mode="json", exclude_none=True) for h in history])


def offsets(flags: pa.Table) -> pa.Table:
    """The money kept from arrears against these flags: each ``offset`` step still in effect
    (not reversed), as :data:`~linkgraph.recognise.OFFSET` rows for
    :func:`~linkgraph.recognise.keep_offsets`."""
    flags = conform(flags, FLAG, "flags")
    some = flags.filter(pc.match_substring(flags["history"], '"offset"'))
    rows = []
    for f in flags_from_table(some):
        undone = {h.reverses for h in f.history if h.reverses is not None}
        rows += [
            {
                "flag_id": f.flag_id,
                "person_ids": list(f.person_ids),
                "kept_on": h.at.date(),
                "amount": h.amount,
            }
            for i, h in enumerate(f.history)
            if h.money == "offset" and h.reverses is None and i not in undone and h.amount
        ]
    return pa.Table.from_pylist(rows, schema=OFFSET)


def flags_from_table(table: pa.Table) -> list[Flag]:
    """Rows of a :data:`FLAG` table as :class:`Flag` objects (for the workflow, a few at a time)."""
    rows = []
    for row in conform(table, FLAG, "flags").to_pylist():
        row["history"] = history_from_json(row["history"])
        rows.append(Flag(**row))
    return rows


def flags_to_table(flags: list[Flag]) -> pa.Table:
    rows: list[dict[str, Any]] = []
    for f in flags:
        row = f.model_dump()
        row["history"] = history_to_json(f.history)
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=FLAG)


def merge(detected: pa.Table, existing: pa.Table | None) -> pa.Table:
    """Detected flags carrying over the workflow state of the same ``flag_id`` from before.

    Flags found before and not found now are kept as they were: a machine does not
    dismiss an investigator's case.
    """
    if existing is None or existing.num_rows == 0:
        return detected
    db = duck.connect()
    db.register("d", conform(detected, FLAG, "detected flags"))
    db.register("e", conform(existing, FLAG, "existing flags"))
    return (
        db.sql(
            """
        SELECT d.* REPLACE (coalesce(e.status, d.status) AS status,
                            coalesce(e.amount_recovered, d.amount_recovered) AS amount_recovered,
                            coalesce(e.history, d.history) AS history,
                            coalesce(e.raised_on, d.raised_on) AS raised_on)
        FROM d LEFT JOIN e USING (flag_id)
        UNION ALL
        SELECT * FROM e WHERE flag_id NOT IN (SELECT flag_id FROM d)
        ORDER BY kind, flag_id
        """
        )
        .to_arrow_table()
        .cast(FLAG)
    )


_SQL = """
WITH enr AS (
    SELECT e.*, i.exclusive_group FROM enrollments e LEFT JOIN items i USING (item_code)
),
dup AS (
    SELECT 'duplicate_enrolment' AS kind, person_id || '|' || item_code AS key,
           [person_id] AS person_ids,
           list(enrollment_id ORDER BY enrolled_on, enrollment_id) AS ids,
           []::VARCHAR[] AS evidence,
           -- the copies beyond the first, paid since the later enrolment began
           sum(monthly_amount * greatest(date_diff('month', date_trunc('month', enrolled_on),
                                                   paid_until) + 1, 0))
             - arg_min(monthly_amount * greatest(date_diff('month',
                       date_trunc('month', enrolled_on), paid_until) + 1, 0),
                       -- the first by start, as listed in ids (two may start the same day)
                       strftime(enrolled_on, '%Y-%m-%d') || enrollment_id)
             AS amount,
           max(date_diff('month', date_trunc('month', enrolled_on), paid_until) + 1)::INTEGER
             AS months,
           format('{} enrolments of one person in {}', count(*), item_code) AS detail
    FROM enr GROUP BY person_id, item_code HAVING count(*) > 1
),
excl AS (
    SELECT 'exclusive_conflict', person_id || '|' || exclusive_group, [person_id],
           list(enrollment_id ORDER BY item_code, enrollment_id), []::VARCHAR[],
           -- the smaller benefits, while paid together with the largest
           (sum(monthly_amount) - max(monthly_amount))
             * greatest(date_diff('month', date_trunc('month', max(enrolled_on)),
                                  min(paid_until)) + 1, 0),
           greatest(date_diff('month', date_trunc('month', max(enrolled_on)),
                              min(paid_until)) + 1, 0)::INTEGER,
           format('items {} of exclusive group {} received together',
                  string_agg(DISTINCT item_code, ' + ' ORDER BY item_code), exclusive_group)
    FROM enr WHERE exclusive_group IS NOT NULL
    GROUP BY person_id, exclusive_group HAVING count(DISTINCT item_code) > 1
),
dead AS (
    SELECT 'paid_after_death', e.enrollment_id, [e.person_id], [e.enrollment_id],
           c.negative_event_keys,
           date_diff('month', date_trunc('month', c.death_on), e.paid_until) * e.monthly_amount,
           date_diff('month', date_trunc('month', c.death_on), e.paid_until)::INTEGER,
           format('{} paid until {} after death on {} ({})', e.item_code,
                  strftime(e.paid_until, '%Y-%m'), strftime(c.death_on, '%Y-%m-%d'),
                  array_to_string(c.negative_channels, ', '))
    FROM enr e JOIN certs c USING (person_id)
    WHERE c.death_on IS NOT NULL
      AND date_diff('month', date_trunc('month', c.death_on), e.paid_until) > 0
),
household AS (
    SELECT person_id, coalesce(nullif(trim(address), ''), person_id) AS home, phone, id_number,
           name FROM persons
),
account AS (
    SELECT 'shared_bank_account', e.bank_account, list(DISTINCT e.person_id ORDER BY e.person_id),
           list(e.enrollment_id ORDER BY e.enrollment_id), []::VARCHAR[],
           sum(e.monthly_amount)::BIGINT, 0,
           format('account {} receives {} benefits of {} persons in {} households',
                  mask_account(e.bank_account), count(*), count(DISTINCT e.person_id),
                  count(DISTINCT h.home))
    FROM enr e JOIN household h USING (person_id)
    WHERE e.bank_account IS NOT NULL AND e.bank_account <> ''
    GROUP BY e.bank_account
    HAVING count(DISTINCT e.person_id) > 1 AND count(DISTINCT h.home) > 1
),
phone AS (
    SELECT 'shared_phone', h.phone, list(DISTINCT h.person_id ORDER BY h.person_id),
           list(e.enrollment_id ORDER BY e.enrollment_id), []::VARCHAR[],
           coalesce(sum(e.monthly_amount), 0)::BIGINT, 0,
           format('phone {} used by {} persons in {} households', mask_phone(h.phone),
                  count(DISTINCT h.person_id), count(DISTINCT h.home))
    FROM household h LEFT JOIN enr e USING (person_id)
    WHERE h.phone IS NOT NULL AND h.phone <> ''
    GROUP BY h.phone
    HAVING count(DISTINCT h.person_id) > 1 AND count(DISTINCT h.home) > 1
),
idname AS (
    SELECT 'id_name_mismatch', h.id_number, list(DISTINCT h.person_id ORDER BY h.person_id),
           list(e.enrollment_id ORDER BY e.enrollment_id), []::VARCHAR[],
           coalesce(sum(e.monthly_amount), 0)::BIGINT, 0,
           format('ID number {} carried by {} names: {}', mask_id_number(h.id_number),
                  count(DISTINCT h.name),
                  string_agg(DISTINCT h.name, ', ' ORDER BY h.name))
    FROM household h LEFT JOIN enr e USING (person_id)
    WHERE h.id_number IS NOT NULL AND h.id_number <> ''
    GROUP BY h.id_number HAVING count(DISTINCT h.name) > 1
),
found AS (
    SELECT * FROM dup UNION ALL SELECT * FROM excl UNION ALL SELECT * FROM dead
    UNION ALL SELECT * FROM account UNION ALL SELECT * FROM phone UNION ALL SELECT * FROM idname
)
SELECT 'F' || substr(md5(kind || ':' || key), 1, 15) AS flag_id, kind,
       CASE kind WHEN 'shared_bank_account' THEN mask_account(key)
                 WHEN 'shared_phone' THEN mask_phone(key)
                 WHEN 'id_name_mismatch' THEN mask_id_number(key) ELSE key END AS key,
       person_ids, ids AS enrollment_ids, evidence AS evidence_event_keys,
       coalesce(amount, 0)::BIGINT AS amount_at_risk, coalesce(months, 0)::INTEGER AS months,
       detail, $as_of AS raised_on, 'open' AS status, 0::BIGINT AS amount_recovered,
       '[]' AS history, NULL AS severity
FROM found
ORDER BY kind, flag_id
"""


#: The masks flags keep their identifiers under (DuckDB functions of the same names).
MASKS = (mask_account, mask_id_number, mask_phone)


def grade(flags: pa.Table, policy: Policy) -> pa.Table:
    """``flags`` with each one's severity from the policy's ``[flags]``: by kind, and
    ``routine`` when a kind listed in ``routine_months`` spans no more months than that
    (``paid_after_death`` over one month: a death that reached the department one payroll
    late, not a case).
    """
    fp = policy.flags
    kinds = sorted(set(fp.severity) | set(fp.routine_months))
    db = duck.connect()
    db.register("flags", conform(flags, FLAG, "flags"))
    db.register(
        "sev",
        pa.table(
            {
                "kind": pa.array(kinds, STR),
                "severity": pa.array([fp.severity.get(k) for k in kinds], STR),
                "routine_months": pa.array([fp.routine_months.get(k) for k in kinds], pa.int32()),
            }
        ),
    )
    return (
        db.sql(
            """SELECT f.* REPLACE (
                   CASE WHEN f.months <= s.routine_months THEN 'routine'
                        ELSE coalesce(s.severity, $default) END AS severity)
               FROM flags f LEFT JOIN sev s USING (kind) ORDER BY f.kind, f.flag_id""",
            params={"default": fp.default_severity},
        )
        .to_arrow_table()
        .cast(FLAG)
    )


def detect(
    persons: pa.Table,
    enrollments: pa.Table,
    certifications: pa.Table,
    catalogue: Catalogue,
    as_of: dt.date,
    *,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Every flag the data shows as of ``as_of`` (all ``open``), as a :data:`FLAG` table.

    Parameters
    ----------
    persons : :data:`linkgraph.tables.PERSON` (address = household, phone, ID number, name)
    enrollments : :data:`linkgraph.tables.ENROLLMENT`
    certifications : :data:`linkgraph.certify.CERTIFICATION` (gives the reported death date)
    catalogue : gives each item's exclusive group

    Notes
    -----
    Amounts are whole yuan. ``paid_after_death``: months = last paid month − month of
    death (the month of death is due); ``duplicate_enrolment``: the copies' payments
    since each began; ``exclusive_conflict``: the smaller items while paid together;
    shared account/phone: the monthly sum paid to the group.
    """
    db = con or duck.connect()
    tables = {
        "persons": conform(persons, PERSON, "persons"),
        "enrollments": conform(enrollments, ENROLLMENT, "enrollments"),
        "certs": conform(certifications, CERTIFICATION, "certifications"),
        "items": pa.table(
            {
                "item_code": [i.code for i in catalogue.benefit_items],
                "exclusive_group": pa.array(
                    [i.exclusive_group for i in catalogue.benefit_items], STR
                ),
            }
        ),
    }
    for name, table in tables.items():
        db.register(name, table)
    for mask in MASKS:  # identifiers at rest as a caller without a purpose would see them
        db.create_function(mask.__name__, mask, [VARCHAR], VARCHAR)
    try:
        return db.sql(_SQL, params={"as_of": as_of}).to_arrow_table().cast(FLAG)
    finally:
        for name in tables:
            db.unregister(name)
        for mask in MASKS:
            db.remove_function(mask.__name__)
