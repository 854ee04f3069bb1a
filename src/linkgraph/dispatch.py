"""Dispatch: people the data cannot confirm become door-knock tasks for their grid worker.

:func:`door_tasks` turns certifications into tasks, one per person and cause:

``no_recent_evidence``
    the certification expires within ``validity.task_lead_days`` (or already has)
    and no newer evidence came in; due on the day it expires;
``negative_evidence``
    negative evidence holds the payment; a human must check at the door within
    ``negative.visit_within_days`` of the report (PIPL art. 24);
``tip_off``
    a village committee or a member of the public reported that the person may no
    longer be eligible (:data:`TIPOFF`, from the ledger): a door check due within
    ``tipoffs.visit_within_days``. The tip-off holds nothing by itself; the visit's
    finding is evidence like any other visit's.

:func:`record_visits` records the workers' findings (:func:`record_visit` one of
them). ``seen_alive`` becomes a ``GRID_VISIT`` event, ``deceased`` a
``VILLAGE_DEATH_REPORT`` event and ``left`` (gone from the city for good: settled abroad,
registration moved out) a ``VILLAGE_LEFT_REPORT`` event, all with ``linked_by =
'manual'``, that flow through :func:`linkgraph.certify.certify` like any other evidence
(a manual check certifies, and a manual confirmation of a death or a departure is the only
negative evidence that may stop a payment). ``moved`` (moved within reach, to be found
there) and ``not_found`` are kept on the task, which stays open for a follow-up; the
person stays where the rules put them (held, never stopped).

:func:`village_list` is the monthly list, per village, of persons suspected of no
longer being eligible.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Literal

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict

from linkgraph import duck
from linkgraph.certify import CERTIFICATION, MANUAL_LINK
from linkgraph.errors import InputError
from linkgraph.policy import Policy
from linkgraph.tables import DATE, LINKED_EVENT, PERSON, STR, conform

VisitResult = Literal["seen_alive", "deceased", "left", "moved", "not_found"]
VISIT_RESULTS = ("seen_alive", "deceased", "left", "moved", "not_found")
VISIT_CHANNELS = {
    "seen_alive": "GRID_VISIT",
    "deceased": "VILLAGE_DEATH_REPORT",
    "left": "VILLAGE_LEFT_REPORT",
}

TASK = pa.schema(
    [
        ("task_id", STR),
        ("person_id", STR),
        ("grid", STR),
        ("village", STR),
        ("district", STR),
        ("reason", STR),  # no_recent_evidence | negative_evidence | tip_off
        ("created_on", DATE),
        ("due_on", DATE),
        ("detail", STR),
        ("status", STR),  # open | done
        ("result", STR),  # last visit result, null until visited
        ("worker", STR),
        ("visited_on", DATE),
    ]
)

#: Tip-offs (ledger entries): who reported what about whom, and when it was received.
TIPOFF = pa.schema(
    [
        ("tipoff_id", STR),
        ("person_id", STR),
        ("reported_by", STR),  # a village committee, a neighbour, a relative ...
        ("says", STR),  # what they report: moved away, died, in prison ...
        ("received_on", DATE),
    ]
)

VILLAGE_LIST = pa.schema(
    [
        ("village", STR),
        ("grid", STR),
        ("person_id", STR),
        ("name", STR),
        ("address", STR),
        ("status", STR),
        ("reason", STR),
    ]
)


class Task(BaseModel):
    """One door-knock task (a row of :data:`TASK`)."""

    model_config = ConfigDict(frozen=True)

    task_id: str
    person_id: str
    grid: str | None
    village: str | None
    district: str | None
    reason: str
    created_on: dt.date
    due_on: dt.date
    detail: str = ""
    status: Literal["open", "done"] = "open"
    result: VisitResult | None = None
    worker: str | None = None
    visited_on: dt.date | None = None


_TASKS_SQL = """
WITH c AS (SELECT * FROM certs),
due AS (
    SELECT person_id, 'negative_evidence' AS reason,
           coalesce(negative_reported_on, negative_on) AS created_on,
           coalesce(negative_reported_on, negative_on) + $visit_days AS due_on,
           'check at the door: ' || explanation AS detail,
           strftime(coalesce(negative_reported_on, negative_on), '%Y-%m-%d') AS anchor
    FROM c WHERE status = 'pending_review' AND NOT confirmed_negative
    UNION ALL
    SELECT person_id, 'no_recent_evidence',
           coalesce(valid_until - $lead_days, $as_of), coalesce(valid_until, $as_of),
           CASE WHEN valid_until IS NULL THEN 'never certified by any evidence'
                ELSE format('no evidence since {} ({}); certification {} {}',
                            strftime(certified_on, '%Y-%m-%d'), rule,
                            CASE WHEN valid_until < $as_of THEN 'expired on'
                                 ELSE 'expires on' END,
                            strftime(valid_until, '%Y-%m-%d')) END,
           coalesce(strftime(valid_until, '%Y-%m-%d'), 'never')
    FROM c
    WHERE status IN ('certified', 'warning', 'suspended')
      AND sentence_from IS NULL  -- in prison: not at the door; the release resumes payment
      AND (valid_until IS NULL OR valid_until - $lead_days <= $as_of)
    UNION ALL
    -- a tip-off is checked at the door unless a death is already confirmed by a human
    SELECT t.person_id, 'tip_off', t.received_on, t.received_on + $tipoff_days,
           format('check at the door: tip-off by {} on {}: {}', t.reported_by,
                  strftime(t.received_on, '%Y-%m-%d'), t.says),
           t.tipoff_id
    FROM tipoffs t LEFT JOIN c USING (person_id)
    WHERE t.received_on <= $as_of AND NOT coalesce(c.confirmed_negative, false)
)
SELECT 'K' || substr(md5(d.person_id || ':' || d.reason || ':' || d.anchor), 1, 15) AS task_id,
       d.person_id, p.grid, p.village, p.district, d.reason, d.created_on, d.due_on, d.detail,
       'open' AS status, NULL AS result, NULL AS worker, NULL::DATE AS visited_on
FROM due d LEFT JOIN persons p USING (person_id)
ORDER BY p.grid, d.due_on, d.person_id
"""


def door_tasks(
    certifications: pa.Table,
    persons: pa.Table,
    policy: Policy,
    as_of: dt.date,
    tipoffs: pa.Table | None = None,
) -> pa.Table:
    """Door-knock tasks as of ``as_of`` (a :data:`TASK` table, grouped by grid, by due date).

    ``task_id`` hashes the person, the cause and the due date (a tip-off: its id), so
    re-running on the same day, or the next, gives the same task for the same cause.
    ``tipoffs`` (:data:`TIPOFF`) received by ``as_of`` are door checks of their own.
    """
    db = duck.connect()
    db.register("certs", conform(certifications, CERTIFICATION, "certifications"))
    db.register("persons", conform(persons, PERSON, "persons"))
    db.register("tipoffs", conform(tipoffs if tipoffs is not None else TIPOFF.empty_table(),
                                   TIPOFF, "tip-offs"))  # fmt: skip
    params = {
        "as_of": as_of,
        "lead_days": policy.validity.task_lead_days,
        "visit_days": policy.negative.visit_within_days,
        "tipoff_days": policy.tipoffs.visit_within_days,
    }
    return db.sql(_TASKS_SQL, params=params).to_arrow_table().cast(TASK)


REMINDER = pa.schema(
    [
        ("person_id", STR),
        ("reminder_no", pa.int32()),  # 1, 2, ... during the warning period
        ("due_on", DATE),
        ("warning_until", DATE),
        ("message", STR),
    ]
)


def reminders_due(
    certifications: pa.Table, policy: Policy, as_of: dt.date, *, days: int = 1
) -> pa.Table:
    """Reminders due in the ``days`` days ending ``as_of`` (a :data:`REMINDER` table).

    During the warning period a person is reminded on its first day (the day after
    ``valid_until``) and every ``validity.reminder_every_days`` after, until payment is held.
    """
    db = duck.connect()
    db.register("certs", conform(certifications, CERTIFICATION, "certifications"))
    every = policy.validity.reminder_every_days
    sql = f"""
    WITH w AS (
        SELECT person_id, valid_until + 1 AS warned_on, warning_until,
               date_diff('day', valid_until + 1, $as_of) AS into_warning
        FROM certs WHERE status = 'warning'
    ),
    r AS (
        SELECT person_id, warning_until,
               CAST(into_warning // {every} AS INTEGER) + 1 AS reminder_no,
               warned_on + CAST((into_warning // {every}) * {every} AS INTEGER) AS due_on
        FROM w
    )
    SELECT person_id, reminder_no, due_on, warning_until,
           format('Reminder {{}}: your benefit certification expired; it renews by itself when '
                  || 'you next see a doctor, travel or log in with your face, or call your grid '
                  || 'worker. Payment is held after {{}}.', reminder_no,
                  strftime(warning_until, '%Y-%m-%d')) AS message
    FROM r WHERE due_on > $as_of - $days AND due_on <= $as_of
    ORDER BY person_id
    """
    return db.sql(sql, params={"as_of": as_of, "days": days}).to_arrow_table().cast(REMINDER)


def tasks_from_table(table: pa.Table) -> list[Task]:
    return [Task(**row) for row in conform(table, TASK, "tasks").to_pylist()]


def visit_event_id(task_id: str, on: dt.date) -> int:
    """A stable event id for a visit, in a range no feed uses (bit 62 set)."""
    digest = hashlib.sha256(f"{task_id}:{on.isoformat()}".encode()).hexdigest()
    return (1 << 62) | int(digest[:15], 16)


#: Door checks of many tasks at once (``record_visits``): each task's visit.
VISIT = pa.schema(
    [
        ("task_id", STR),
        ("result", STR),  # seen_alive | deceased | left | moved | not_found
        ("worker", STR),
        ("visited_on", DATE),
        ("died_on", DATE),  # for deceased: the day of death when known (else visited_on)
    ]
)


def record_visits(tasks: pa.Table, visits: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Record door checks: the visited tasks as the visits left them, and their evidence.

    ``visits`` (:data:`VISIT`) names tasks of ``tasks``. ``seen_alive`` becomes a
    ``GRID_VISIT`` event, ``deceased`` a ``VILLAGE_DEATH_REPORT`` event dated the death and
    ``left`` a ``VILLAGE_LEFT_REPORT`` event, all ``linked_by = 'manual'``, and the task is
    done; ``moved`` and ``not_found``
    produce no event and leave the task open for a follow-up. Returns (visited tasks as
    :data:`TASK`, events as :data:`linkgraph.tables.LINKED_EVENT`), one pass in SQL.
    """
    db = duck.connect()
    db.register("tasks", conform(tasks, TASK, "tasks"))
    db.register("visits", conform(visits, VISIT, "visits"))
    db.register(
        "channels",
        pa.table({"result": list(VISIT_CHANNELS), "channel": list(VISIT_CHANNELS.values())}),
    )
    done = db.sql(
        """SELECT t.* REPLACE (CASE WHEN c.channel IS NULL THEN 'open' ELSE 'done' END AS status,
                               v.result AS result, v.worker AS worker, v.visited_on AS visited_on),
                  c.channel, coalesce(v.died_on, v.visited_on) AS occurred_on
           FROM tasks t JOIN visits v USING (task_id) LEFT JOIN channels c ON c.result = v.result
           ORDER BY t.task_id"""
    ).to_arrow_table()
    evidence = done.filter(pc.is_valid(done["channel"]))
    ids = [
        visit_event_id(task_id, on)
        for task_id, on in zip(
            evidence["task_id"].to_pylist(), evidence["visited_on"].to_pylist(), strict=True
        )
    ]
    events = pa.table(
        {
            "event_id": pa.array(ids, pa.int64()),
            "channel": evidence["channel"],
            "occurred_on": evidence["occurred_on"],
            "reported_on": evidence["visited_on"],
            "person_id": evidence["person_id"],
            "linked_by": pa.array([MANUAL_LINK] * evidence.num_rows, STR),
        },
        schema=LINKED_EVENT,
    )
    return done.select(TASK.names).cast(TASK), events


def record_visit(
    task: Task,
    result: VisitResult,
    worker: str,
    on: dt.date,
    *,
    died_on: dt.date | None = None,
) -> tuple[Task, pa.Table]:
    """Record one door check: the updated task and the evidence event it produces (0 or 1 row).

    The event is appended to the linked events and certified like any other:
    ``seen_alive`` certifies (manual rule) and clears a negative hold; ``deceased`` (dated
    ``died_on``, default ``on``) is a human-confirmed death, which alone may stop payment.
    ``moved`` and ``not_found`` produce no event: the task stays open for a follow-up and
    the person stays held. The rule is :func:`record_visits`'; this checks one visit first.
    """
    if result not in VISIT_RESULTS:
        raise InputError(f"visit result {result!r}: allowed {', '.join(VISIT_RESULTS)}")
    if not worker.strip():
        raise InputError("a visit needs the worker who made it")
    if on < task.created_on:
        raise InputError(f"visit on {on} is before the task was created ({task.created_on})")
    visit = pa.Table.from_pylist(
        [
            {
                "task_id": task.task_id,
                "result": result,
                "worker": worker,
                "visited_on": on,
                "died_on": died_on if result == "deceased" else None,
            }
        ],
        schema=VISIT,
    )
    tasks = pa.Table.from_pylist([task.model_dump()], schema=TASK)
    visited, event = record_visits(tasks, visit)
    return tasks_from_table(visited)[0], event


def village_list(
    certifications: pa.Table,
    persons: pa.Table,
    flags: pa.Table | None = None,
) -> pa.Table:
    """The monthly list, per village, of persons suspected of no longer being eligible.

    Persons held on negative evidence, suspended after their warning period, or
    named by an open ``paid_after_death`` or ``id_name_mismatch`` flag; not those whose
    negative evidence a person has confirmed at the door (no longer suspected: their
    month's list of confirmations names them).
    """
    from linkgraph.flags import FLAG

    db = duck.connect()
    db.register("certs", conform(certifications, CERTIFICATION, "certifications"))
    db.register("persons", conform(persons, PERSON, "persons"))
    flag_table = flags if flags is not None else FLAG.empty_table()
    db.register("flags", conform(flag_table, FLAG, "flags"))
    sql = """
    WITH why AS (
        SELECT person_id, status, explanation AS reason FROM certs
        WHERE status IN ('pending_review', 'suspended')
        UNION ALL
        SELECT unnest(person_ids) AS person_id, 'flag:' || kind, detail FROM flags
        WHERE status IN ('open', 'confirmed') AND kind IN ('paid_after_death', 'id_name_mismatch')
    )
    SELECT p.village, p.grid, w.person_id, p.name, p.address,
           string_agg(DISTINCT w.status, ', ' ORDER BY w.status) AS status,
           string_agg(DISTINCT w.reason, ' | ' ORDER BY w.reason) AS reason
    FROM why w JOIN persons p USING (person_id)
    WHERE person_id NOT IN (SELECT person_id FROM certs WHERE confirmed_negative)
    GROUP BY ALL
    ORDER BY p.village, p.grid, w.person_id
    """
    return db.sql(sql).to_arrow_table().cast(VILLAGE_LIST)
