"""One month in figures: what the core's answer at a month's end says happened in it.

:func:`month_row` reads the core's tables as of the month's last day (the answer of
:func:`linkgraph.pipeline.decide`) and the visits the ledger holds, and counts the
month's events: persons certified by data and by hand, reminders due in the month,
warnings and suspensions, sentences served and releases from prison, departures for good
confirmed at the door, resumptions and the arrears they pay (less the offsets kept from
them against flags, counted apart), door visits, tasks
still open, tip-offs received and checked at the door, flags raised, confirmed and
dismissed, and money recovered in cash, kept from arrears owed (offsets) and written
off, each apart. ``linkgraph run`` writes one such row; ``linkgraph simulate`` one per month.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from linkgraph import duck
from linkgraph.dispatch import TASK, TIPOFF, reminders_due
from linkgraph.policy import Policy
from linkgraph.tables import conform

if TYPE_CHECKING:
    from linkgraph.pipeline import CertificationRun

#: The keys of a monthly row, in the report's order.
MONTHLY_FIELDS = (
    "month",
    "certified_by_data",
    "certified_manual",
    "reminders_sent",
    "warning",
    "suspended",
    "pending_review",
    "serving_sentence",
    "released",
    "left_confirmed",
    "resumed",
    "arrears_paid",
    "arrears_offset",
    "paid_yuan",
    "visits_done",
    "tasks_open",
    "tipoffs_received",
    "tipoffs_checked",
    "flags_raised",
    "flags_confirmed",
    "flags_dismissed",
    "recovered_yuan",
    "offset_yuan",
    "written_off_yuan",
)

_SQL = """
WITH steps AS (
    SELECT unnest(from_json(history,
                 '[{"at": "VARCHAR", "to_status": "VARCHAR", "amount": "BIGINT",
                    "money": "VARCHAR"}]')) AS s
    FROM flags
),
-- what a step's amount is: cash or offset recovered, or written off (a reversal keeps the
-- kind of the step it undoes, its amount negated); steps before kinds were kept are cash
step AS (
    SELECT CAST(s.at AS DATE) AS on_day, s.to_status, s.amount,
           coalesce(s.money, CASE WHEN s.to_status IN ('recovering', 'recovered')
                                  THEN 'cash' END) AS money
    FROM steps
)
SELECT
  (SELECT count(*) FILTER (WHERE status = 'certified'
                             AND method IN ('strong', 'corroborated_weak')) FROM certs)
      AS certified_by_data,
  (SELECT count(*) FILTER (WHERE status = 'certified' AND method = 'manual') FROM certs)
      AS certified_manual,
  (SELECT count(*) FROM reminders) AS reminders_sent,
  (SELECT count(*) FILTER (WHERE status = 'warning') FROM certs) AS warning,
  (SELECT count(*) FILTER (WHERE status = 'suspended') FROM certs) AS suspended,
  (SELECT count(*) FILTER (WHERE status = 'pending_review') FROM certs) AS pending_review,
  (SELECT count(*) FILTER (WHERE sentence_from IS NOT NULL) FROM certs) AS serving_sentence,
  (SELECT count(*) FILTER (WHERE released_on BETWEEN $first AND $last) FROM certs) AS released,
  -- departures for good confirmed at the door in the month (the payment stops)
  (SELECT count(*) FROM visits WHERE result = 'left' AND visited_on BETWEEN $first AND $last)
      AS left_confirmed,
  (SELECT count(*) FROM rec WHERE resumed_on BETWEEN $first AND $last) AS resumed,
  (SELECT coalesce(sum(arrears_amount), 0) FROM rec WHERE resumed_on BETWEEN $first AND $last)
      AS arrears_paid,
  (SELECT coalesce(sum(arrears_offset), 0) FROM rec WHERE resumed_on BETWEEN $first AND $last)
      AS arrears_offset,
  (SELECT coalesce(sum(monthly_amount), 0) FROM rec WHERE status IN ('pay', 'warning'))
      AS paid_yuan,
  (SELECT count(*) FROM visits WHERE visited_on BETWEEN $first AND $last) AS visits_done,
  (SELECT count(*) FILTER (WHERE status = 'open') FROM tasks) AS tasks_open,
  (SELECT count(*) FROM tipoffs WHERE received_on BETWEEN $first AND $last) AS tipoffs_received,
  -- a tip-off is checked when a door visit settles it (the person seen, or found dead); one
  -- that found nobody at home stays open for the next visit
  (SELECT count(*) FROM visits
   WHERE reason = 'tip_off' AND status = 'done' AND visited_on BETWEEN $first AND $last)
      AS tipoffs_checked,
  (SELECT count(*) FROM flags WHERE raised_on BETWEEN $first AND $last) AS flags_raised,
  (SELECT count(*) FROM step WHERE to_status = 'confirmed' AND on_day BETWEEN $first AND $last)
      AS flags_confirmed,
  (SELECT count(*) FROM step WHERE to_status = 'dismissed' AND on_day BETWEEN $first AND $last)
      AS flags_dismissed,
  (SELECT coalesce(sum(amount), 0) FROM step
   WHERE money = 'cash' AND on_day BETWEEN $first AND $last) AS recovered_yuan,
  (SELECT coalesce(sum(amount), 0) FROM step
   WHERE money = 'offset' AND on_day BETWEEN $first AND $last) AS offset_yuan,
  (SELECT coalesce(sum(amount), 0) FROM step
   WHERE money = 'written_off' AND on_day BETWEEN $first AND $last) AS written_off_yuan
"""


def month_row(
    run: CertificationRun,
    policy: Policy,
    visits: pa.Table | None = None,
    tipoffs: pa.Table | None = None,
) -> dict[str, Any]:
    """The figures of the month that ends on ``run.as_of`` (a row of ``report["monthly"]``).

    ``visits`` are the ledger's visited tasks (:data:`linkgraph.dispatch.TASK`); a visit
    counts in the month of its ``visited_on``. ``tipoffs`` are the ledger's tip-offs
    (:data:`linkgraph.dispatch.TIPOFF`): received in the month of ``received_on``, checked
    in the month a door visit settled their task (the person seen, or found dead).
    """
    last = run.as_of
    first = last.replace(day=1)
    db = duck.connect()
    for name, table in {
        "certs": run.certifications,
        "rec": run.recognitions,
        "tasks": run.tasks,
        "flags": run.flags,
        "visits": conform(visits if visits is not None else TASK.empty_table(), TASK, "visits"),
        "tipoffs": conform(
            tipoffs if tipoffs is not None else TIPOFF.empty_table(), TIPOFF, "tip-offs"
        ),
        "reminders": reminders_due(run.certifications, policy, last, days=(last - first).days + 1),
    }.items():
        db.register(name, table)
    row = db.sql(_SQL, params={"first": first, "last": last}).to_arrow_table().to_pylist()[0]
    return {"month": f"{last:%Y-%m}", **{k: int(row[k]) for k in MONTHLY_FIELDS[1:]}}
