"""Recognise: spread each person's certification to all their enrolments, in every department.

"互认": one certification serves every benefit a person draws. :func:`recognise`
is the one rule that decides an enrolment's status: a join of certifications to
enrolments, with each item's override (validity, strong evidence only) and the
stop requests applied. The monthly run and the live service both call it
(through ``linkgraph.pipeline.decide``); the graph stores only receive its
results — each Enrollment's ``status``, ``valid_until`` and ``reason`` — and
never re-derive them (``cypher/queries/certification_spread.cypher`` reads them
back beside the person's certification).

An enrolment is

* ``stop`` when a human confirmed the person dead or gone from the city for good (door
  check) or confirmed a stop request; payment stops after the month of death or departure;
* ``hold`` on open negative evidence (pending a door check), an unconfirmed stop
  request, a prison sentence being served, or a certification past its warning period
  (suspended); a release from prison resumes payment without arrears for the sentence;
* ``warning`` when the certification expired but the warning period runs (paid,
  with a reminder);
* ``pay`` otherwise, with ``arrears_months`` when a suspension ended.

The arrears a resumption pays are the held months' payments less what a case worker
kept from them against a flag (a recovery of kind ``offset``): :func:`keep_offsets`.

No machine rule produces ``stop`` (PIPL art. 24): only human confirmations do.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph import duck
from linkgraph.certify import CERTIFICATION
from linkgraph.policy import Policy
from linkgraph.tables import DATE, ENROLLMENT, STR, STR_LIST, conform

RECOGNITION_STATUSES = ("pay", "hold", "stop", "warning")

#: A request, by the person or their family, to stop a benefit (online or at the counter).
STOP_REQUEST = pa.schema(
    [
        ("request_id", STR),
        ("person_id", STR),
        ("enrollment_id", STR),  # null: every enrolment of the person
        ("requested_by", STR),  # the requester's relation: self | spouse | ... (policy)
        ("requested_on", DATE),
        ("confirmed", pa.bool_()),  # null: pending; true: confirmed by staff; false: rejected
        ("confirmed_on", DATE),
    ]
)

#: One row per enrolment: the answer of :func:`recognise`.
RECOGNITION = pa.schema(
    [
        ("enrollment_id", STR),
        ("person_id", STR),
        ("item_code", STR),
        ("department", STR),
        ("status", STR),  # pay | hold | stop | warning
        ("valid_until", DATE),
        ("reason", STR),
        ("monthly_amount", pa.int32()),
        ("stop_after", DATE),  # last day paid when stopped
        ("resumed_on", DATE),  # the certification that ended a suspension
        ("arrears_from", DATE),  # the suspension began here
        ("arrears_months", pa.int32()),  # payments held during the suspension, owed now
        ("arrears_amount", pa.int64()),  # owed now: the held payments less the offsets kept
        ("arrears_offset", pa.int64()),  # kept from the held payments against flags (offsets)
    ]
)

#: Money a case worker kept from arrears a person is owed, against a flag (one offset step
#: in effect, from :func:`linkgraph.flags.offsets`).
OFFSET = pa.schema(
    [
        ("flag_id", STR),
        ("person_ids", STR_LIST),  # the flag's persons, whose arrears it is kept from
        ("kept_on", DATE),
        ("amount", pa.int64()),
    ]
)

#: The monthly payroll check of one department.
PAYROLL = pa.schema(
    [
        ("enrollment_id", STR),
        ("person_id", STR),
        ("item_code", STR),
        ("decision", STR),  # pay | hold | stop
        ("amount", pa.int64()),  # this month's payment (0 unless pay)
        ("arrears_amount", pa.int64()),  # held payments released this month
        ("arrears_months", pa.int32()),
        ("reason", STR),
    ]
)


def _overrides(policy: Policy, items: list[str]) -> pa.Table:
    v = policy.validity
    rows = [policy.override(code) for code in items]
    return pa.table(
        {
            "item_code": pa.array(items, STR),
            "strong_only": pa.array([o.strong_only for o in rows]),
            "months": pa.array([o.validity_months or v.months for o in rows], pa.int32()),
            "warn": pa.array(
                [v.warning_months if o.warning_months is None else o.warning_months for o in rows],
                pa.int32(),
            ),
        }
    )


_SQL = """
WITH stops AS (
    SELECT e.enrollment_id,
           arg_max(s.confirmed, coalesce(s.confirmed_on, s.requested_on)) AS confirmed,
           arg_max(s.requested_by, s.requested_on) AS requested_by,
           max(s.requested_on) AS requested_on,
           max(s.confirmed_on) AS confirmed_on
    FROM enr e JOIN stop_requests s ON s.person_id = e.person_id
         AND (s.enrollment_id IS NULL OR s.enrollment_id = e.enrollment_id)
    WHERE s.requested_on <= $as_of
      AND (s.confirmed OR (s.confirmed IS NULL AND list_contains($hold_at_once, s.requested_by)))
    GROUP BY e.enrollment_id
),
base AS (
    SELECT e.enrollment_id, e.person_id, e.item_code, e.department, e.monthly_amount,
           c.status AS person_status, c.rule, c.explanation, c.confirmed_negative, c.death_on,
           c.left_on, c.negative_on, c.sentence_from, c.released_on, o.strong_only, o.months,
           o.warn,
           CASE WHEN o.strong_only THEN greatest(c.strong_on, $baseline) ELSE c.certified_on END
               AS eff_on,
           CASE WHEN o.strong_only THEN NULL ELSE c.previous_on END AS previous_on,
           c.known_on, c.method,
           s.confirmed AS stop_confirmed, s.requested_by, s.requested_on, s.confirmed_on
    FROM enr e
    LEFT JOIN certs c USING (person_id)
    LEFT JOIN overrides o USING (item_code)
    LEFT JOIN stops s USING (enrollment_id)
),
dated AS (
    SELECT *,
           CAST(eff_on + to_months(months) AS DATE) AS valid_until,
           CAST(eff_on + to_months(months + warn) AS DATE) AS warning_until,
           -- months served in prison are not owed: a suspension ends no earlier than release
           greatest(CAST(previous_on + to_months(months + warn) AS DATE) + 1, released_on + 1)
               AS suspended_from
    FROM base
),
decided AS (
    SELECT *,
        CASE
          WHEN stop_confirmed THEN 'stop'
          WHEN person_status = 'pending_review' AND confirmed_negative
               AND coalesce(death_on, left_on) IS NOT NULL THEN 'stop'
          WHEN requested_on IS NOT NULL THEN 'hold'
          WHEN person_status = 'pending_review' THEN 'hold'
          WHEN sentence_from IS NOT NULL THEN 'hold'
          WHEN eff_on IS NULL THEN 'hold'
          WHEN $as_of <= valid_until THEN 'pay'
          WHEN $as_of <= warning_until THEN 'warning'
          ELSE 'hold'
        END AS status,
        suspended_from IS NOT NULL AND eff_on >= suspended_from
            AND person_status <> 'pending_review' AS resumed
    FROM dated
)
SELECT enrollment_id, person_id, item_code, department, status, valid_until,
       CASE
         WHEN stop_confirmed THEN format('stop requested by {} on {}, confirmed on {}',
              requested_by, strftime(requested_on, '%Y-%m-%d'), strftime(confirmed_on, '%Y-%m-%d'))
         WHEN status = 'stop' AND death_on IS NOT NULL THEN format('death on {} confirmed by a '
              || 'door check; paid to the end of that month', strftime(death_on, '%Y-%m-%d'))
         WHEN status = 'stop' THEN format('left the city for good on {} ({}), confirmed by a '
              || 'door check; paid to the end of that month', strftime(left_on, '%Y-%m-%d'),
              replace(rule, 'negative:', ''))
         WHEN requested_on IS NOT NULL THEN format('stop requested by {} on {}; held pending '
              || 'confirmation', requested_by, strftime(requested_on, '%Y-%m-%d'))
         WHEN person_status = 'pending_review' OR sentence_from IS NOT NULL THEN explanation
         WHEN eff_on IS NULL AND strong_only THEN 'item needs strong evidence; none on record'
         WHEN eff_on IS NULL THEN explanation
         ELSE format('certified {} by {}{}{}; valid until {}{}',
              strftime(eff_on, '%Y-%m-%d'),
              CASE WHEN strong_only THEN 'strong or manual evidence'
                   WHEN method = 'none' THEN 'the last in-person campaign' ELSE method END,
              CASE WHEN strong_only OR months <> $months
                   THEN format(' [item rule: {}{} months]',
                               CASE WHEN strong_only THEN 'strong evidence only, ' ELSE '' END,
                               months)
                   ELSE '' END,
              CASE WHEN status = 'pay' AND resumed THEN format(
                       '; resumed after suspension from {}, arrears {} months',
                       strftime(suspended_from, '%Y-%m-%d'),
                       date_diff('month', suspended_from - 1, eff_on - 1)) ELSE '' END,
              strftime(valid_until, '%Y-%m-%d'),
              CASE status WHEN 'warning' THEN format('; warning until {}, reminder sent',
                                                     strftime(warning_until, '%Y-%m-%d'))
                          WHEN 'hold' THEN format('; warning ended {}: held until certified',
                                                  strftime(warning_until, '%Y-%m-%d'))
                          ELSE '' END)
       END AS reason,
       monthly_amount,
       CASE WHEN stop_confirmed THEN confirmed_on
            WHEN status = 'stop' THEN last_day(coalesce(death_on, left_on)) END AS stop_after,
       CASE WHEN status = 'pay' AND resumed THEN eff_on END AS resumed_on,
       CASE WHEN status = 'pay' AND resumed THEN suspended_from END AS arrears_from,
       CASE WHEN status = 'pay' AND resumed
            THEN date_diff('month', suspended_from - 1, eff_on - 1) ELSE 0 END AS arrears_months,
       CASE WHEN status = 'pay' AND resumed
            THEN date_diff('month', suspended_from - 1, eff_on - 1) * monthly_amount
            ELSE 0 END AS arrears_amount,
       0::BIGINT AS arrears_offset
FROM decided
ORDER BY enrollment_id
"""


def recognise(
    certifications: pa.Table,
    enrollments: pa.Table,
    policy: Policy,
    as_of: dt.date,
    *,
    stop_requests: pa.Table | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Every enrolment's status as of ``as_of``, from its person's certification.

    Parameters
    ----------
    certifications : :data:`linkgraph.certify.CERTIFICATION`, computed as of ``as_of``
    enrollments : :data:`linkgraph.tables.ENROLLMENT`
    policy : gives each item's override (strong evidence only, validity, warning)
    stop_requests : optional :data:`STOP_REQUEST` rows; a confirmed one stops, a pending
        one holds at once when its requester's relation is in the policy's
        ``stop_requests.hold_at_once`` (the person themself), and is a check otherwise

    Returns
    -------
    A :data:`RECOGNITION` table, one row per enrolment, ordered by ``enrollment_id``.
    """
    enr = conform(enrollments, ENROLLMENT, "enrollments")
    certs = conform(certifications, CERTIFICATION, "certifications")
    stops = conform(
        stop_requests if stop_requests is not None else STOP_REQUEST.empty_table(),
        STOP_REQUEST,
        "stop_requests",
    )
    items = sorted(set(enr["item_code"].unique().to_pylist()) - {None})
    db = con or duck.connect()
    tables = {
        "enr": enr,
        "certs": certs,
        "stop_requests": stops,
        "overrides": _overrides(policy, items),
    }
    for name, table in tables.items():
        db.register(name, table)
    baseline = policy.baseline_certified_on
    try:
        result = db.sql(
            _SQL,
            params={
                "as_of": as_of,
                "baseline": baseline,
                "months": policy.validity.months,
                "hold_at_once": list(policy.stop_requests.hold_at_once),
            },
        ).to_arrow_table()
    finally:
        for name in tables:
            db.unregister(name)
    return result.cast(RECOGNITION)


def keep_offsets(recognitions: pa.Table, offsets: pa.Table, as_of: dt.date) -> pa.Table:
    """``recognitions`` with the arrears each resumption pays less the offsets kept from them.

    An offset (:data:`OFFSET`) kept on a day is taken from the arrears of its flag's persons
    whose suspension had begun by then (``arrears_from`` on or before it: an offset kept
    earlier was kept from an earlier resumption's arrears), person by person in the flag's
    order and enrolment by enrolment, never below nothing; offsets kept after ``as_of`` are
    not known yet. Steps are taken in the order they were kept. What is kept shows in
    ``arrears_offset``, what is left to pay in ``arrears_amount``.
    """
    offsets = conform(offsets, OFFSET, "offsets")
    offsets = offsets.filter(pc.less_equal(offsets["kept_on"], pa.scalar(as_of, pa.date32())))
    if offsets.num_rows == 0:
        return recognitions
    rec = conform(recognitions, RECOGNITION, "recognitions")
    persons = pa.array(sorted({p for ps in offsets["person_ids"].to_pylist() for p in ps}))
    owed = rec.filter(
        pc.and_(pc.greater(rec["arrears_amount"], 0), pc.is_in(rec["person_id"], persons))
    )
    left: dict[str, int] = {}
    by_person: dict[str, list[tuple[str, dt.date]]] = {}
    for eid, pid, start, amount in zip(
        *(
            owed[k].to_pylist()
            for k in ("enrollment_id", "person_id", "arrears_from", "arrears_amount")
        ),
        strict=True,
    ):
        left[eid] = amount
        by_person.setdefault(pid, []).append((eid, start))
    kept: dict[str, int] = {}
    for step in sorted(offsets.to_pylist(), key=lambda o: (o["kept_on"], o["flag_id"])):
        amount = step["amount"]
        for pid in step["person_ids"]:
            for eid, start in by_person.get(pid, ()):
                take = min(amount, left[eid]) if start <= step["kept_on"] else 0
                left[eid] -= take
                kept[eid] = kept.get(eid, 0) + take
                amount -= take
    if not kept:
        return rec
    # the few enrolments offsets touched, joined to the city's by a hash look-up
    where = pc.index_in(rec["enrollment_id"], value_set=pa.array(list(kept), pa.string()))
    taken = pc.fill_null(pa.array(list(kept.values()), pa.int64()).take(where), 0)
    rec = rec.set_column(
        rec.schema.get_field_index("arrears_amount"),
        "arrears_amount",
        pc.subtract(rec["arrears_amount"], taken),
    )
    return rec.set_column(rec.schema.get_field_index("arrears_offset"), "arrears_offset", taken)


def payroll(
    department: str,
    month: dt.date,
    certifications: pa.Table,
    enrollments: pa.Table,
    policy: Policy,
    *,
    stop_requests: pa.Table | None = None,
) -> pa.Table:
    """The payroll check of ``department`` for ``month``: every enrolment as pay, hold or stop.

    The payroll runs on the first day of ``month``; pass certifications computed as of
    that day. A warning pays (with a reminder). Arrears are released in the first
    payroll after the certification that ended a suspension became known, so each
    held month is paid back exactly once.
    """
    run_on = month.replace(day=1)
    previous_run = (run_on - dt.timedelta(days=1)).replace(day=1)
    enr = conform(enrollments, ENROLLMENT, "enrollments")
    mine = enr.filter(pc.equal(enr["department"], department))
    rec = recognise(certifications, mine, policy, run_on, stop_requests=stop_requests)
    db = duck.connect()
    db.register("rec", rec)
    db.register("certs", conform(certifications, CERTIFICATION, "certifications"))
    return (
        db.sql(
            """
        SELECT r.enrollment_id, r.person_id, r.item_code,
               CASE WHEN r.status = 'warning' THEN 'pay' ELSE r.status END AS decision,
               CASE WHEN r.status IN ('pay', 'warning') THEN r.monthly_amount ELSE 0 END
                   AS amount,
               CASE WHEN due THEN r.arrears_amount ELSE 0 END AS arrears_amount,
               CASE WHEN due THEN r.arrears_months ELSE 0 END AS arrears_months,
               r.reason
        FROM (SELECT r.*, r.arrears_months > 0 AND c.known_on >= $prev AND c.known_on < $run
                  AS due
              FROM rec r LEFT JOIN certs c USING (person_id)) r
        ORDER BY r.enrollment_id
        """,
            params={"prev": previous_run, "run": run_on},
        )
        .to_arrow_table()
        .cast(PAYROLL)
    )
