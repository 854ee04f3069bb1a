"""Certify: is each person alive and certified as of a date, by which rule, on which evidence?

One pure function, :func:`certify`, turns linked evidence events into one row per
person (schema :data:`CERTIFICATION`). The arithmetic is SQL over Arrow in an
in-process duckdb plus numpy prefix sums, so 38 M events never meet a Python loop:

1. *Qualifying days.* A strong or manual event qualifies on the day it occurred.
   Weak events are folded in SQL to one row per person and day with per-channel
   counts; :func:`weak_qualifying_days` sums the rule's ``window_days`` window
   with prefix sums, and a day qualifies when every threshold of the rule holds
   (see :class:`linkgraph.policy.WeakRule`).
2. *Latest certification.* The latest qualifying day (manual > strong > weak on
   ties) gives ``certified_on``; ``valid_until`` is ``validity.months`` later;
   ``warning_until`` adds ``validity.warning_months``. The baseline date of the
   policy counts as a qualifying day for everyone (method ``none``); with the policy's
   ``enrolment_certifies``, so does each person's latest enrolment start (method
   ``manual``, rule ``enrolment``: the person enrolled in person).
3. *Negative evidence overrides.* Any negative event reported by ``as_of`` holds
   the person in ``pending_review`` unless a manual check (a rule listed in
   ``negative.cleared_by``) happened on or after the day it was reported. A
   negative event entered by a human (``linked_by = 'manual'``, from a door
   check) is marked ``confirmed_negative``: only those may stop a payment.

4. *Courses of negative evidence* (policy ``[negative]``): a death channel dates the death
   (``death_on``) and a left channel the day the person left the city for good
   (``left_on``); both hold for a door check, and once a human confirmed them
   :func:`linkgraph.recognise.recognise` stops payment after that month. A sentence
   channel does not hold for a door check: the person is ``suspended`` while serving it
   (``sentence_from``, rule ``sentence:<CHANNEL>``), until a release event on or after its
   start (``released_on``; a manual check after the report clears it too).

Only events with ``reported_on <= as_of`` are known, so a late death report
changes the answer only from the day it arrives.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph import duck
from linkgraph.policy import Policy, WeakRule
from linkgraph.tables import DATE, ENROLLMENT, LINKED_EVENT, PERSON, STR, STR_LIST, conform

STATUSES = ("certified", "warning", "suspended", "pending_review")
METHODS = ("strong", "corroborated_weak", "manual", "none")
MANUAL_LINK = "manual"  # linked_by of an event a person entered by hand (door check)
ENROLMENT_RULE = "enrolment"  # the rule of a certification by an enrolment's start

#: One row per person: the answer of :func:`certify`.
CERTIFICATION = pa.schema(
    [
        ("person_id", STR),
        ("status", STR),  # certified | warning | suspended | pending_review
        ("method", STR),  # strong | corroborated_weak | manual | none
        ("certified_on", DATE),  # latest qualifying day (or the baseline)
        ("valid_until", DATE),
        ("rule", STR),  # rule id from the policy; "baseline"; "negative:<CHANNEL>"
        ("evidence_event_keys", STR_LIST),  # event keys, CHANNEL:event_id (tables.event_key)
        ("explanation", STR),
        ("warning_until", DATE),  # payment is held after this day
        ("strong_on", DATE),  # latest strong or manual qualifying day (items that need strong)
        ("weak_on", DATE),  # latest corroborated-weak qualifying day
        ("previous_on", DATE),  # the qualifying day before certified_on (gap → arrears)
        ("known_on", DATE),  # when the latest certification became known
        ("negative_on", DATE),  # earliest open negative event (date it occurred)
        ("negative_reported_on", DATE),  # ... and the day the first one was reported
        ("death_on", DATE),  # date of death reported by a death channel, if any
        ("left_on", DATE),  # day the person left the city for good (a left channel), if any
        ("sentence_from", DATE),  # a prison sentence served now began on this day
        ("released_on", DATE),  # the latest release from prison (no arrears before it)
        ("negative_channels", STR_LIST),
        ("negative_event_keys", STR_LIST),
        ("confirmed_negative", pa.bool_()),  # a human confirmed the negative evidence
    ]
)

_PRIORITY = {"manual": 3, "strong": 2, "corroborated_weak": 1}


def _in_list(channels: Iterable[str]) -> str:
    """Channel codes as the body of a SQL ``IN (...)``; NULL when there are none (no row
    is in it)."""
    return ", ".join(_lit(c) for c in channels) or "NULL"


def _lit(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _channel_table(policy: Policy) -> pa.Table:
    """channel → rule index ``ri`` (-1 negative), priority (0 negative) and weak channel index."""
    rows: dict[str, list[object]] = {k: [] for k in ("channel", "ri", "prio", "ci")}
    for ri, rule in enumerate(policy.rules):
        for i, code in enumerate(rule.channels):
            for key, value in zip(rows, (code, ri, _PRIORITY[rule.kind], i), strict=True):
                rows[key].append(value)
    for code in policy.negative.channels:
        for key, value in zip(rows, (code, -1, 0, -1), strict=True):
            rows[key].append(value)
    rows["code"] = list(range(len(rows["channel"])))
    return pa.table(
        rows,
        schema=pa.schema(
            [
                ("channel", STR),
                ("ri", pa.int16()),
                ("prio", pa.int8()),
                ("ci", pa.int16()),
                ("code", pa.int16()),
            ]
        ),
    )


def _rule_table(policy: Policy) -> pa.Table:
    """rule index → rule id, method, window (the baseline is rule -2, an enrolment -3)."""
    rules = list(policy.rules)
    return pa.table(
        {
            "ri": pa.array([*range(len(rules)), -2, -3], pa.int16()),
            "rule_id": pa.array([r.id for r in rules] + ["baseline", ENROLMENT_RULE], STR),
            "method": pa.array([r.kind for r in rules] + ["none", "manual"], STR),
            "window_days": pa.array(
                [r.window_days if isinstance(r, WeakRule) else 1 for r in rules] + [1, 1],
                pa.int32(),
            ),
        }
    )


#: Qualifying days of a weak rule, as :func:`weak_qualifying_days` returns them.
WEAK_DAYS = pa.schema(
    [
        ("pidx", pa.int32()),
        ("day", DATE),
        ("ri", pa.int16()),
        ("known_on", DATE),
        ("n_events", pa.int32()),
        ("n_channels", pa.int8()),
        ("n_instruments", pa.int8()),
        ("n_days", pa.int32()),
        ("score", pa.float64()),
        ("cmask", pa.int64()),
    ]
)


def weak_qualifying_days(
    days: pa.Table, rule: WeakRule, ri: int = 0, keep_last: int = 0
) -> pa.Table:
    """Days on which a person's weak evidence corroborates itself under ``rule``.

    ``days`` holds one row per person and day, sorted by (``pidx``, ``day``), with
    ``known_on`` and the count of events per channel of the rule in ``c0 .. c{n-1}``.
    The window ``(day - window_days, day]`` is summed with prefix sums: the window of
    row ``i`` starts at the first row of the same person less than ``window_days``
    days before it (one ``searchsorted``), so each sum is ``cs[i + 1] - cs[start]``.

    ``keep_last`` > 0 keeps only each person's last so many qualifying days (all that
    certification needs: the latest and the one before it). O(R log R) for R
    person-days; no Python loop over rows.
    """
    n_rows = days.num_rows
    if n_rows == 0:
        return WEAK_DAYS.empty_table()
    pidx = days["pidx"].to_numpy().astype(np.int64)
    day = days["day"].cast(pa.int32()).to_numpy().astype(np.int64)
    key = pidx * 1_000_000 + day
    start = np.searchsorted(key, key - (rule.window_days - 1), side="left")
    stop = np.arange(1, n_rows + 1, dtype=np.int64)
    del key

    def window_sum(values: np.ndarray) -> np.ndarray:
        cs = np.zeros(n_rows + 1, np.int32)  # the city's events number far below 2**31
        np.cumsum(values, dtype=np.int32, out=cs[1:])
        return cs[stop] - cs[start]

    instruments: dict[str, np.ndarray] = {}
    n_events = np.zeros(n_rows, np.int32)
    n_channels = np.zeros(n_rows, np.int8)
    cmask = np.zeros(n_rows, np.int64)
    score = np.zeros(n_rows, np.float64)
    for i, code in enumerate(rule.channels):
        counts = window_sum(days[f"c{i}"].to_numpy())
        present = counts > 0
        n_events += counts
        n_channels += present
        cmask |= present.astype(np.int64) << i
        wc = rule.weak_channels[code]
        score += np.minimum(wc.weight * counts, rule.channel_cap)
        seen = instruments.setdefault(wc.instrument, np.zeros(n_rows, bool))
        seen |= present
    n_instruments = np.sum(list(instruments.values()), axis=0)
    n_days = stop - start
    ok = (
        (n_events >= rule.min_events)
        & (n_channels >= rule.min_channels)
        & (n_instruments >= rule.min_instruments)
        & (n_days >= rule.min_days)
        & (score >= rule.score_threshold - 1e-9)
    )
    if keep_last:
        rows = np.flatnonzero(ok)
        later = np.empty(len(rows), bool)
        later[: len(rows) - keep_last] = (
            pidx[rows[keep_last:]] == pidx[rows[: len(rows) - keep_last]]
        )
        later[len(rows) - keep_last :] = False
        ok[rows[later]] = False
    keep = pa.array(ok)
    return pa.table(
        {
            "pidx": days["pidx"].filter(keep).cast(pa.int32()),
            "day": days["day"].filter(keep),
            "ri": pa.array(np.full(int(ok.sum()), ri, dtype=np.int16)),
            "known_on": days["known_on"].filter(keep),
            "n_events": pa.array(n_events[ok].astype(np.int32)),
            "n_channels": pa.array(n_channels[ok].astype(np.int8)),
            "n_instruments": pa.array(n_instruments[ok].astype(np.int8)),
            "n_days": pa.array(n_days[ok].astype(np.int32)),
            "score": pa.array(score[ok]),
            "cmask": pa.array(cmask[ok]),
        },
        schema=WEAK_DAYS,
    )


def _weak_days_sql(rule: WeakRule, ri: int) -> str:
    per_day = ", ".join(
        f"CAST(count(*) FILTER (WHERE ci = {i}) AS SMALLINT) AS c{i}"
        for i in range(len(rule.channels))
    )
    return f"""
        SELECT pidx, occurred_on AS day, max(reported_on) AS known_on, {per_day}
        FROM ev WHERE ri = {ri}
        GROUP BY pidx, occurred_on ORDER BY pidx, occurred_on
    """


def _weak_detail_sql(policy: Policy) -> str:
    """SQL expression: the sentence explaining a weak qualifying day (columns of ``best``)."""
    cases = []
    for rule in policy.weak_rules:
        names = ", ".join(
            f"CASE WHEN (cmask >> {i}) & 1 = 1 THEN {_lit(c)} END"
            for i, c in enumerate(rule.channels)
        )
        cases.append(
            f"""WHEN b.rule_id = {_lit(rule.id)} THEN format(
                '{{}} weak events from {{}} channels ({{}}) and {{}} instruments on {{}} days in '
                || '{{}}..{{}}, score {{}} (needs {rule.min_events} events, {rule.min_channels} '
                || 'channels, {rule.min_instruments} instruments, {rule.min_days} days, score '
                || '{rule.score_threshold})', n_events, n_channels, concat_ws(', ', {names}),
                n_instruments, n_days,
                strftime(day - {rule.window_days - 1}, '%Y-%m-%d'), strftime(day, '%Y-%m-%d'),
                round(score, 2))"""
        )
    return f"CASE {' '.join(cases)} END" if cases else "NULL"


def _sql(policy: Policy, as_of: dt.date) -> str:
    v = policy.validity
    baseline = policy.baseline_certified_on
    baseline_rows = (
        f"""UNION ALL SELECT pidx, DATE '{baseline.isoformat()}', -2::SMALLINT, 0::TINYINT,
                   DATE '{baseline.isoformat()}', NULL, NULL, NULL, NULL, NULL, NULL
            FROM pidx"""
        if baseline
        else ""
    )
    # An enrolment's start is an in-person act (policy ``enrolment_certifies``).
    enrolment_rows = (
        """UNION ALL SELECT pidx, enrolled_on, -3::SMALLINT, 3::TINYINT, enrolled_on,
                   NULL, NULL, NULL, NULL, NULL, NULL
            FROM enrolled"""
        if policy.enrolment_certifies
        else ""
    )
    index = {r.id: i for i, r in enumerate(policy.rules)}
    cleared_by = ", ".join(str(index[r]) for r in policy.negative.cleared_by) or "NULL"
    neg = policy.negative
    death = _in_list(neg.death_channels)
    left = _in_list(neg.left_channels)
    sentence = _in_list(neg.sentence_channels)
    release = _in_list(neg.released_by)
    as_of_sql = f"DATE '{as_of.isoformat()}'"
    release_names = ", ".join(neg.released_by).replace("'", "''")
    return f"""
    WITH q AS (
        SELECT pidx, occurred_on AS day, ri, prio, min(reported_on) AS known_on,
               NULL::INTEGER AS n_events, NULL::TINYINT AS n_channels,
               NULL::TINYINT AS n_instruments, NULL::INTEGER AS n_days, NULL::DOUBLE AS score,
               NULL::BIGINT AS cmask
        FROM ev WHERE prio >= 2
        GROUP BY pidx, occurred_on, ri, prio
        UNION ALL
        SELECT pidx, day, ri, 1::TINYINT, known_on, n_events, n_channels, n_instruments, n_days,
               score, cmask
        FROM wq
        {baseline_rows}
        {enrolment_rows}
    ),
    latest AS (
        SELECT pidx, max(day) AS day,
               max(day) FILTER (WHERE prio >= 2) AS strong_on,
               max(day) FILTER (WHERE prio = 1) AS weak_on
        FROM q GROUP BY pidx
    ),
    best0 AS (
        SELECT q.pidx, any_value(l.strong_on) AS strong_on, any_value(l.weak_on) AS weak_on,
               -- manual > strong > weak; then evidence over the baseline or an enrolment,
               -- then the rule listed first in the policy (ties never left to chance)
               arg_max(struct_pack(q.day, q.ri, q.known_on, q.n_events, q.n_channels,
                       q.n_instruments, q.n_days, q.score, q.cmask),
                       q.prio * 100000 + CASE WHEN q.ri >= 0 THEN 50000 - q.ri ELSE 0 END) AS b
        FROM q JOIN latest l ON q.pidx = l.pidx AND q.day = l.day
        GROUP BY q.pidx
    ),
    best AS (
        SELECT b.*, r.rule_id, r.method, r.window_days
        FROM (SELECT pidx, strong_on, weak_on, unnest(b) FROM best0) b JOIN rules r USING (ri)
    ),
    prev AS (
        SELECT q.pidx, max(q.day) AS previous_on
        FROM q JOIN latest l ON q.pidx = l.pidx AND q.day < l.day
        GROUP BY q.pidx
    ),
    evidence AS (
        SELECT b.pidx, list(ch.channel || ':' || e.event_id ORDER BY ch.channel, e.event_id) AS ids,
               string_agg(DISTINCT ch.channel, ', ' ORDER BY ch.channel) AS channels
        FROM best b
        JOIN ev e ON e.pidx = b.pidx AND e.ri = b.ri AND e.occurred_on <= b.day
         AND e.occurred_on > b.day - b.window_days
        JOIN chan ch ON ch.code = e.ch
        GROUP BY b.pidx
    ),
    cleared AS (
        SELECT pidx, max(occurred_on) AS checked_on FROM ev
        WHERE ri IN ({cleared_by}) GROUP BY pidx
    ),
    releases AS (
        SELECT e.pidx, e.occurred_on FROM ev e JOIN chan ch ON ch.code = e.ch
        WHERE ch.channel IN ({release})
    ),
    released AS (SELECT pidx, max(occurred_on) AS released_on FROM releases GROUP BY pidx),
    -- a sentence is served from its start until a release on or after it (or a door check
    -- after its report found the person at home)
    serving AS (
        SELECT n.pidx, max(n.occurred_on) AS sentence_from,
               list(ch.channel || ':' || n.event_id ORDER BY ch.channel, n.event_id) AS ids,
               min(ch.channel) AS channel, min(n.reported_on) AS reported_on
        FROM ev n JOIN chan ch ON ch.code = n.ch LEFT JOIN cleared c USING (pidx)
        WHERE ch.channel IN ({sentence})
          AND (c.checked_on IS NULL OR c.checked_on < n.reported_on)
          AND NOT EXISTS (SELECT 1 FROM releases r
                          WHERE r.pidx = n.pidx AND r.occurred_on >= n.occurred_on)
        GROUP BY n.pidx
    ),
    neg AS (
        SELECT n.pidx, min(n.occurred_on) AS negative_on,
               min(n.occurred_on) FILTER (WHERE ch.channel IN ({death})) AS death_on,
               min(n.occurred_on) FILTER (WHERE ch.channel IN ({left})) AS left_on,
               list(DISTINCT ch.channel ORDER BY ch.channel) AS channels,
               list(ch.channel || ':' || n.event_id ORDER BY ch.channel, n.event_id) AS ids,
               bool_or(n.manual) AS confirmed,
               -- the first reported; of two reported the same day, the first by name
               list(ch.channel ORDER BY n.reported_on, ch.channel)[1] AS first_channel,
               min(n.reported_on) AS reported_on
        FROM ev n JOIN chan ch ON ch.code = n.ch LEFT JOIN cleared c USING (pidx)
        WHERE n.prio = 0 AND ch.channel NOT IN ({sentence})
          AND (c.checked_on IS NULL OR c.checked_on < n.reported_on OR n.manual)
        GROUP BY n.pidx
    ),
    dated AS (
        SELECT p.person_id, b.day AS certified_on, b.method, b.rule_id, b.known_on,
               b.strong_on, b.weak_on, pv.previous_on,
               CASE WHEN b.method = 'corroborated_weak' THEN {_weak_detail_sql(policy)}
                    WHEN b.rule_id = 'baseline'
                    THEN 'carried over from the last in-person certification on '
                         || strftime(b.day, '%Y-%m-%d')
                    WHEN b.rule_id = '{ENROLMENT_RULE}'
                    THEN 'enrolled in person on ' || strftime(b.day, '%Y-%m-%d')
                    ELSE format('{{}} on {{}} ({{}})', evd.channels, strftime(b.day, '%Y-%m-%d'),
                                CASE WHEN b.method = 'manual' THEN 'manual check, certifies alone'
                                     ELSE 'strong evidence, certifies alone' END) END AS detail,
               CAST(b.day + to_months({v.months}) AS DATE) AS valid_until,
               CAST(b.day + to_months({v.months + v.warning_months}) AS DATE) AS warning_until,
               coalesce(evd.ids, []::VARCHAR[]) AS evidence_event_keys,
               n.negative_on, n.death_on, n.left_on, n.channels AS negative_channels,
               s.sentence_from, s.ids AS sentence_event_keys, s.channel AS sentence_channel,
               s.reported_on AS sentence_reported_on, r.released_on,
               n.ids AS negative_event_keys, n.first_channel,
               coalesce(n.confirmed, false) AS confirmed_negative,
               n.reported_on AS negative_reported_on
        FROM pidx p
        LEFT JOIN best b USING (pidx)
        LEFT JOIN prev pv USING (pidx)
        LEFT JOIN evidence evd USING (pidx)
        LEFT JOIN neg n USING (pidx)
        LEFT JOIN serving s USING (pidx)
        LEFT JOIN released r USING (pidx)
    )
    SELECT person_id,
           CASE WHEN negative_on IS NOT NULL THEN 'pending_review'
                WHEN sentence_from IS NOT NULL THEN 'suspended'
                WHEN certified_on IS NULL THEN 'suspended'
                WHEN {as_of_sql} <= valid_until THEN 'certified'
                WHEN {as_of_sql} <= warning_until THEN 'warning'
                ELSE 'suspended' END AS status,
           CASE WHEN negative_on IS NOT NULL AND confirmed_negative THEN 'manual'
                WHEN negative_on IS NOT NULL OR sentence_from IS NOT NULL THEN 'none'
                ELSE coalesce(method, 'none') END AS method,
           certified_on, valid_until,
           CASE WHEN negative_on IS NOT NULL THEN 'negative:' || first_channel
                WHEN sentence_from IS NOT NULL THEN 'sentence:' || sentence_channel
                ELSE coalesce(rule_id, 'none') END AS rule,
           CASE WHEN negative_on IS NOT NULL THEN negative_event_keys
                WHEN sentence_from IS NOT NULL THEN sentence_event_keys
                ELSE evidence_event_keys END AS evidence_event_keys,
           CASE
             WHEN negative_on IS NOT NULL THEN format(
               '{{}}: {{}} dated {{}} (reported {{}}); {{}}{{}}',
               CASE WHEN confirmed_negative THEN 'confirmed by a door check' ELSE 'hold' END,
               array_to_string(negative_channels, ', '), strftime(negative_on, '%Y-%m-%d'),
               strftime(negative_reported_on, '%Y-%m-%d'),
               CASE WHEN confirmed_negative
                    THEN 'payment stops after that month, as a person confirmed at the door'
                    ELSE 'payment held for a door check, never stopped by machine alone'
                         || ' (PIPL art. 24)' END,
               CASE WHEN certified_on IS NULL THEN ''
                    ELSE format('; last certified {{}} by {{}}', strftime(certified_on, '%Y-%m-%d'),
                                rule_id) END)
             WHEN sentence_from IS NOT NULL THEN format(
               'serving a sentence: {{}} dated {{}} (reported {{}}); payment suspended until '
               || 'release ({release_names}), the months served not paid as arrears',
               sentence_channel, strftime(sentence_from, '%Y-%m-%d'),
               strftime(sentence_reported_on, '%Y-%m-%d'))
             WHEN certified_on IS NULL
             THEN 'never certified: no qualifying evidence and no baseline'
             ELSE format('{{}}: {{}}; valid until {{}}{{}}', rule_id, detail,
                         strftime(valid_until, '%Y-%m-%d'),
                         CASE WHEN {as_of_sql} <= valid_until THEN ''
                              WHEN {as_of_sql} <= warning_until THEN format(
                                '; expired, warning until {{}} (reminder every '
                                || '{v.reminder_every_days} days)',
                                strftime(warning_until, '%Y-%m-%d'))
                              ELSE format(
                                '; expired, warning ended {{}}: payment held until certified',
                                          strftime(warning_until, '%Y-%m-%d')) END)
           END AS explanation,
           warning_until, strong_on, weak_on, previous_on, known_on, negative_on,
           negative_reported_on, death_on, left_on, sentence_from, released_on,
           coalesce(negative_channels, []::VARCHAR[]) AS negative_channels,
           coalesce(negative_event_keys, []::VARCHAR[]) AS negative_event_keys,
           confirmed_negative
    FROM dated
    ORDER BY person_id
    """


def certify(
    events: pa.Table,
    persons: pa.Table,
    policy: Policy,
    as_of: dt.date,
    *,
    enrollments: pa.Table | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
) -> pa.Table:
    """Certify every person of ``persons`` as of ``as_of`` from ``events``.

    Parameters
    ----------
    events : LINKED_EVENT table (events with a null or unknown ``person_id`` are ignored)
    persons : PERSON table (only ``person_id`` is read)
    policy : the certification policy
    as_of : the day of the answer; events reported later are not known yet
    enrollments : ENROLLMENT rows; with the policy's ``enrolment_certifies``, each person's
        latest enrolment started by ``as_of`` is an in-person certification on that day
    con : an optional duckdb connection (to share its memory and thread limits)

    Returns
    -------
    A :data:`CERTIFICATION` table, one row per person, ordered by ``person_id``.

    Notes
    -----
    O(E log E) in the number of events: one grouping per rule, prefix sums for windows.
    """
    events = conform(events, LINKED_EVENT, "events")
    ids = conform(persons, pa.schema([PERSON.field("person_id")]), "persons")["person_id"]
    # persons numbered in person_id order, so parts by number come out in that order
    ids = ids.take(pc.sort_indices(ids))
    db = con or duck.connect()
    registered = {
        "events_in": events,
        "person_index": pa.table(
            {"person_id": ids, "pidx": pa.array(np.arange(len(ids), dtype=np.int32))}
        ),
        "chan": _channel_table(policy),
        "rules": _rule_table(policy),
        "enrollments_in": conform(
            enrollments if enrollments is not None else ENROLLMENT.empty_table(),
            pa.schema([ENROLLMENT.field("person_id"), ENROLLMENT.field("enrolled_on")]),
            "enrollments",
        ),
    }
    for name, table in registered.items():
        db.register(name, table)
    parts = person_parts(len(ids), len(events), duck.memory_limit_bytes(db))
    try:
        result = pa.concat_tables([_certify_part(db, policy, as_of, lo, hi) for lo, hi in parts])
    finally:
        db.execute("DROP VIEW IF EXISTS pidx")
        db.execute("DROP TABLE IF EXISTS ev")
        db.execute("DROP TABLE IF EXISTS enrolled")
        for name in (*registered, "wq"):
            db.unregister(name)
    return result.cast(CERTIFICATION)


#: DuckDB memory one linked event may take in certify's final query, whose ordered lists
#: cannot spill (measured: 9.3 M events need 400-600 MB), doubled for a margin
BYTES_PER_EVENT = 128


def person_parts(n_persons: int, n_events: int, memory_bytes: int) -> list[tuple[int, int]]:
    """Ranges of person numbers certified one at a time, each within DuckDB's memory.

    Every rule is per person, so the parts' answers are the whole answer; a city whose
    events fit takes one part.
    """
    n_parts = max(1, -(-n_events * BYTES_PER_EVENT // max(memory_bytes, 1)))
    bounds = np.linspace(0, n_persons, n_parts + 1).astype(np.int64)
    return [(int(lo), int(hi)) for lo, hi in itertools.pairwise(bounds) if hi > lo] or [(0, 0)]


def _certify_part(
    db: duckdb.DuckDBPyConnection, policy: Policy, as_of: dt.date, lo: int, hi: int
) -> pa.Table:
    """:func:`certify` for the persons numbered ``lo`` to ``hi - 1``."""
    as_of_sql = f"DATE '{as_of.isoformat()}'"
    db.execute(
        f"CREATE OR REPLACE TEMP VIEW pidx AS SELECT * FROM person_index "
        f"WHERE pidx >= {lo} AND pidx < {hi}"
    )
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE ev AS
        SELECT e.event_id, c.code AS ch, e.occurred_on, e.reported_on, p.pidx,
               coalesce(e.linked_by = '{MANUAL_LINK}', false) AS manual, c.ri, c.prio, c.ci
        FROM events_in e JOIN chan c USING (channel) JOIN pidx p USING (person_id)
        WHERE e.reported_on <= {as_of_sql} AND e.occurred_on <= {as_of_sql}"""
    )
    db.execute(
        f"""CREATE OR REPLACE TEMP TABLE enrolled AS
        SELECT p.pidx, max(e.enrolled_on) AS enrolled_on
        FROM enrollments_in e JOIN pidx p USING (person_id)
        WHERE e.enrolled_on <= {as_of_sql} GROUP BY p.pidx"""
    )
    weak = [
        weak_qualifying_days(db.sql(_weak_days_sql(rule, ri)).to_arrow_table(), rule, ri, 2)
        for ri, rule in enumerate(policy.rules)
        if isinstance(rule, WeakRule)
    ]
    db.register("wq", pa.concat_tables(weak) if weak else WEAK_DAYS.empty_table())
    return db.sql(_sql(policy, as_of)).to_arrow_table()
