"""The monthly certification report: JSON for machines, one self-contained HTML page for people.

:func:`build_report` sums the core's answer (:func:`linkgraph.pipeline.decide`) into
the month's figures; :func:`write_report` writes ``report.json`` and ``report.html``.
The page draws its charts as inline SVG generated here, with no script and no
CDN, so it opens offline.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
from jinja2 import Environment

from linkgraph import duck
from linkgraph.catalogue import Catalogue
from linkgraph.charts import bar_chart, line_chart
from linkgraph.monthly import MONTHLY_FIELDS
from linkgraph.reform import Reform, against

if TYPE_CHECKING:
    from linkgraph.pipeline import CertificationRun


def _rows(
    db: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    table = db.sql(sql, params=params).to_arrow_table()
    return [
        {k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in row.items()}
        for row in table.to_pylist()
    ]


def build_report(
    run: CertificationRun,
    persons: pa.Table,
    enrollments: pa.Table,
    events: pa.Table | pa.RecordBatchReader,
    catalogue: Catalogue,
    *,
    city: str = "",
    months: int = 1,
    monthly: list[dict[str, Any]] | None = None,
    reform: Reform | None = None,
) -> dict[str, Any]:
    """The month's figures as a JSON-ready dict (see the keys below).

    ``months`` is how many months of feeds the run covers (the flags it finds arose over
    them); ``monthly`` the month-by-month rows (:func:`linkgraph.monthly.month_row`);
    ``reform`` the figures compared against (default ``seed/reform.toml``). ``events``
    (``event_id``, ``channel`` and ``person_id`` at least) may be a table or a stream of
    record batches (read once, into a count per channel: a version's events file is read
    so, a batch at a time).
    """
    reform = reform or Reform.load()
    db = duck.connect()
    for name, table in {
        "certs": run.certifications,
        "rec": run.recognitions,
        "flags": run.flags,
        "tasks": run.tasks,
        "persons": persons.select(["person_id", "village", "grid"]),
        "enr": enrollments,
        "event_rows": events.select(["event_id", "channel", "person_id"])
        if isinstance(events, pa.Table)
        else events,
        "items": pa.table(
            {
                "item_code": [i.code for i in catalogue.benefit_items],
                "item_name": [i.name for i in catalogue.benefit_items],
                "department": [i.department for i in catalogue.benefit_items],
            }
        ),
        "channels": pa.table(
            {
                "channel": [c.code for c in catalogue.channels],
                "channel_name": [c.name for c in catalogue.channels],
                "polarity": [c.polarity.value for c in catalogue.channels],
                "strength": [c.strength.value for c in catalogue.channels],
            }
        ),
        "villages": pa.table(
            {
                "village": [v.code for v in catalogue.villages],
                "village_name": [v.name for v in catalogue.villages],
            }
        ),
    }.items():
        db.register(name, table)
    # the events' figures, read once: a stream of batches is read no more than that
    db.execute(
        """CREATE TEMP TABLE events AS
           SELECT channel, count(event_id) AS events, count(DISTINCT person_id) AS persons,
                  count(*) AS n
           FROM event_rows GROUP BY channel"""
    )
    # each flag's money written off (in effect: a reversed write-off nets to nothing)
    db.execute(
        """CREATE TEMP VIEW written_off AS
           SELECT flag_id, sum(s.amount)::BIGINT AS amount_written_off
           FROM (SELECT flag_id,
                        unnest(from_json(history, '[{"amount": "BIGINT", "money": "VARCHAR"}]'))
                            AS s
                 FROM flags)
           WHERE s.money = 'written_off' GROUP BY flag_id"""
    )

    status = _rows(
        db,
        """SELECT CASE WHEN status = 'certified' AND rule = 'baseline' THEN 'carried_over'
                       WHEN status = 'certified' THEN 'certified_' || method
                       ELSE status END AS category, count(*) AS persons
           FROM certs GROUP BY ALL ORDER BY persons DESC""",
    )
    flags = _rows(
        db,
        """SELECT kind, count(*) AS flags,
                  count(*) FILTER (WHERE severity = 'suspicious') AS suspicious,
                  count(*) FILTER (WHERE severity = 'routine') AS routine,
                  count(*) FILTER (WHERE status = 'open') AS open,
                  count(*) FILTER (WHERE status = 'confirmed') AS confirmed,
                  count(*) FILTER (WHERE status = 'dismissed') AS dismissed,
                  count(*) FILTER (WHERE status = 'recovering') AS recovering,
                  count(*) FILTER (WHERE status = 'recovered') AS recovered,
                  count(*) FILTER (WHERE status = 'written_off') AS written_off,
                  sum(amount_at_risk)::BIGINT AS amount_at_risk,
                  sum(amount_recovered)::BIGINT AS amount_recovered,
                  coalesce(sum(w.amount_written_off), 0)::BIGINT AS amount_written_off
           FROM flags LEFT JOIN written_off w USING (flag_id)
           GROUP BY kind ORDER BY amount_at_risk DESC""",
    )
    items = _rows(
        db,
        """SELECT r.item_code, any_value(i.item_name) AS name, count(*) AS enrolments,
                  count(DISTINCT r.person_id) AS persons,
                  count(*) FILTER (WHERE r.status = 'pay') AS pay,
                  count(*) FILTER (WHERE r.status = 'warning') AS warning,
                  count(*) FILTER (WHERE r.status = 'hold') AS hold,
                  count(*) FILTER (WHERE r.status = 'stop') AS stop,
                  sum(r.monthly_amount) FILTER (WHERE r.status IN ('pay', 'warning'))::BIGINT
                      AS monthly_paid,
                  sum(r.monthly_amount) FILTER (WHERE r.status IN ('hold', 'stop'))::BIGINT
                      AS monthly_held,
                  round(100.0 * count(*) FILTER (WHERE c.status = 'certified'
                        AND c.rule <> 'baseline') / count(*), 1) AS certified_by_data_pct
           FROM rec r LEFT JOIN items i USING (item_code) LEFT JOIN certs c USING (person_id)
           GROUP BY r.item_code ORDER BY enrolments DESC""",
    )
    channels = _rows(
        db,
        """WITH used AS (
               SELECT c.channel, count(DISTINCT c.person_id) AS certifying
               FROM (SELECT person_id, split_part(unnest(evidence_event_keys), ':', 1) AS channel
                     FROM certs WHERE status = 'certified') c
               GROUP BY c.channel)
           SELECT ch.channel, ch.channel_name AS name, ch.polarity, ch.strength,
                  coalesce(any_value(e.events), 0) AS events,
                  coalesce(any_value(e.persons), 0) AS persons,
                  coalesce(any_value(u.certifying), 0) AS persons_certified_by
           FROM channels ch LEFT JOIN events e USING (channel) LEFT JOIN used u USING (channel)
           GROUP BY ch.channel, ch.channel_name, ch.polarity, ch.strength
           ORDER BY events DESC""",
    )
    villages = _rows(
        db,
        """SELECT t.village, any_value(v.village_name) AS name, count(*) AS tasks,
                  count(DISTINCT t.grid) AS grids,
                  count(*) FILTER (WHERE t.reason = 'negative_evidence') AS negative_evidence,
                  count(*) FILTER (WHERE t.reason = 'no_recent_evidence') AS no_recent_evidence,
                  min(t.due_on) AS first_due
           FROM tasks t LEFT JOIN villages v USING (village)
           GROUP BY t.village ORDER BY tasks DESC, t.village""",
    )
    grids = _rows(
        db,
        """SELECT grid, any_value(village) AS village, count(*) AS tasks, min(due_on) AS first_due,
                  count(*) FILTER (WHERE reason = 'negative_evidence') AS negative_evidence
           FROM tasks GROUP BY grid ORDER BY tasks DESC, grid LIMIT 200""",
    )
    totals = _rows(
        db,
        """SELECT (SELECT count(*) FROM certs) AS persons,
                  (SELECT count(*) FROM enr) AS enrolments,
                  (SELECT coalesce(sum(n), 0)::BIGINT FROM events) AS events,
                  (SELECT count(*) FROM tasks) AS tasks,
                  (SELECT count(DISTINCT grid) FROM tasks) AS grids_with_tasks,
                  (SELECT count(*) FROM flags) AS flags,
                  (SELECT coalesce(sum(amount_at_risk), 0)::BIGINT FROM flags
                   WHERE kind IN ('duplicate_enrolment', 'exclusive_conflict',
                                  'paid_after_death')) AS amount_at_risk,
                  (SELECT coalesce(sum(amount_recovered), 0)::BIGINT FROM flags)
                      AS amount_recovered,
                  (SELECT coalesce(sum(amount_written_off), 0)::BIGINT FROM written_off)
                      AS amount_written_off,
                  (SELECT coalesce(sum(arrears_amount), 0)::BIGINT FROM rec) AS arrears_owed""",
    )[0]
    figures = _rows(
        db,
        f"""WITH payroll AS (
               SELECT e.monthly_amount, i.department FROM enr e LEFT JOIN items i USING (item_code)
               WHERE e.paid_until >= date_trunc('month', DATE '{run.as_of.isoformat()}')),
           suspicious AS (SELECT * FROM flags WHERE severity = 'suspicious')
           SELECT
             (SELECT count(*) FILTER (WHERE status = 'certified'
                                      AND method IN ('strong', 'corroborated_weak'))
                     / greatest(count(*), 1) FROM certs) AS certified_by_data_share,
             ((SELECT coalesce(sum(n), 0)::BIGINT FROM events) + (SELECT count(*) FROM enr))
                 / greatest((SELECT count(*) FROM certs), 1) AS records_per_person,
             (SELECT sum(monthly_amount) FROM payroll)
                 / greatest((SELECT count(*) FROM certs), 1) AS paid_per_person_month,
             (SELECT sum(monthly_amount) FILTER (WHERE list_contains($si, department))
                     / sum(monthly_amount) FROM payroll) AS social_insurance_share,
             (SELECT count(*) / count(DISTINCT grid) FROM persons WHERE grid IS NOT NULL)
                 AS persons_per_occupied_grid,
             (SELECT count(*) FROM suspicious) / {max(months, 1)} AS suspicious_cases_per_month,
             (SELECT CASE WHEN count(*) FILTER (WHERE amount_recovered > 0) > 0
                          THEN sum(amount_recovered) / count(*) FILTER (WHERE amount_recovered > 0)
                          ELSE avg(amount_at_risk) END FROM suspicious) AS recovered_per_case""",
        params={"si": list(reform.social_insurance_departments)},
    )[0]
    return {
        "city": city,
        "as_of": run.as_of.isoformat(),
        "months_observed": months,
        "reform": against(reform, figures, totals["persons"]),
        "monthly": monthly or [],
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "totals": totals,
        "certification": {row["category"]: row["persons"] for row in status},
        "flags": flags,
        "items": items,
        "channels": channels,
        "tasks_by_village": villages,
        "tasks_by_grid_top": grids,
        "timings_seconds": run.timings,
    }


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` under ``out``; return both paths."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "report.json"
    html_path = out / "report.html"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path


# -- HTML ------------------------------------------------------------------------------

_TEMPLATE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>linkgraph certification report {{ r.as_of }}</title>
<style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1a202c;
padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #e2e8f0}
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}
td,th{padding:.25rem .6rem;border-bottom:1px solid #edf2f7;text-align:right}
td:first-child,th:first-child,td.l,th.l{text-align:left}
.wide{overflow-x:auto}.nowrap td,.nowrap th{white-space:nowrap}
.cards{display:flex;flex-wrap:wrap;gap:.8rem}
.card{background:#f7fafc;border-radius:6px;padding:.6rem 1rem}
.card b{display:block;font-size:1.3rem}
</style></head><body>
<h1>Benefit eligibility certification — {{ r.city or "city" }}, as of {{ r.as_of }}</h1>
<div class="cards">
{% for label, value in cards %}<div class="card">{{ label }}<b>{{ value }}</b></div>{% endfor %}
</div>
<h2>Against the reform (Bozhou, 1.36 M persons)</h2>
<table><tr><th>measure</th><th class="l">unit</th><th>Bozhou</th><th>this city</th>
<th>at 1.36 M</th><th>× Bozhou</th><th class="l">note</th></tr>
{% for m in r.reform %}<tr><td>{{ m.measure }}</td><td class="l">{{ m.unit }}</td>
<td>{{ fmt(m.bozhou) }}</td><td>{{ fmt(m.city) }}</td><td>{{ fmt(m.scaled) }}</td>
<td>{{ fmt(m.ratio) }}</td><td class="l">{{ m.note }}</td></tr>{% endfor %}</table>
<h2>Month by month</h2>
{{ monthly_charts }}
<div class="wide"><table class="nowrap">
<tr>{% for k in monthly_fields %}<th>{{ k }}</th>{% endfor %}</tr>
{% for m in r.monthly %}<tr>{% for k in monthly_fields %}<td>{{ fmt(m[k]) }}</td>{% endfor %}
</tr>{% endfor %}</table></div>
<h2>Certification status (persons)</h2>
{{ status_chart }}
<h2>Flags: money at stake and recovered (yuan)</h2>
{{ flag_chart }}
<table><tr><th>kind</th><th>flags</th><th>suspicious</th><th>routine</th><th>open</th><th>confirmed</th><th>dismissed</th>
<th>recovering</th><th>recovered</th><th>written off</th><th>at risk (¥)</th>
<th>recovered (¥)</th><th>written off (¥)</th></tr>
{% for f in r.flags %}<tr><td>{{ f.kind }}</td><td>{{ f.flags }}</td><td>{{ f.suspicious }}</td>
<td>{{ f.routine }}</td><td>{{ f.open }}</td>
<td>{{ f.confirmed }}</td><td>{{ f.dismissed }}</td><td>{{ f.recovering }}</td>
<td>{{ f.recovered }}</td><td>{{ f.written_off }}</td>
<td>{{ "{:,}".format(f.amount_at_risk or 0) }}</td>
<td>{{ "{:,}".format(f.amount_recovered or 0) }}</td>
<td>{{ "{:,}".format(f.amount_written_off or 0) }}</td>
</tr>{% endfor %}</table>
<p>Shared account / phone amounts are paid per month; the others are totals. Suspicious:
a case for investigators; routine: ordinary reporting lag the next payroll takes back
(policy <code>[flags]</code>). Recovered money is paid back or kept from arrears owed to the
person (offsets; the monthly table shows each apart); money written off could not be
recovered and is not counted as recovered.</p>
<h2>Coverage by benefit item</h2>
{{ item_chart }}
<table><tr><th>item</th><th>name</th><th>enrolments</th><th>persons</th><th>pay</th><th>warning</th>
<th>hold</th>
<th>stop</th>
<th>paid / month (¥)</th>
<th>held / month (¥)</th>
<th>certified by data %</th></tr>
{% for i in r["items"] %}<tr><td>{{ i.item_code }}</td><td class="l">{{ i.name }}</td>
<td>{{ i.enrolments }}</td><td>{{ i.persons }}</td><td>{{ i.pay }}</td><td>{{ i.warning }}</td>
<td>{{ i.hold }}</td><td>{{ i.stop }}</td><td>{{ "{:,}".format(i.monthly_paid or 0) }}</td>
<td>{{ "{:,}".format(i.monthly_held or 0) }}</td>
<td>{{ i.certified_by_data_pct }}</td></tr>{% endfor %}
</table>
<h2>Coverage by channel</h2>
{{ channel_chart }}
<table><tr><th>channel</th><th>name</th><th>polarity</th><th>strength</th><th>events</th>
<th>persons</th><th>certifying persons</th></tr>
{% for c in r.channels %}<tr><td>{{ c.channel }}</td><td class="l">{{ c.name }}</td>
<td class="l">{{ c.polarity }}</td><td class="l">{{ c.strength }}</td><td>{{ c.events }}</td>
<td>{{ c.persons }}</td><td>{{ c.persons_certified_by }}</td></tr>{% endfor %}</table>
<h2>Door-knock tasks by village (top {{ villages|length }} of {{ r.tasks_by_village|length }})</h2>
{{ village_chart }}
<table><tr><th>village</th><th>name</th><th>tasks</th><th>grids</th><th>negative evidence</th>
<th>no recent evidence</th><th>first due</th></tr>
{% for v in villages %}<tr><td>{{ v.village }}</td>
<td class="l">{{ v.name }}</td>
<td>{{ v.tasks }}</td>
<td>{{ v.grids }}</td><td>{{ v.negative_evidence }}</td><td>{{ v.no_recent_evidence }}</td>
<td>{{ v.first_due }}</td></tr>{% endfor %}</table>
<p>Generated {{ r.generated_at }} by linkgraph. Negative evidence holds a payment for a human
check; no payment is stopped by machine alone (PIPL art. 24).</p>
</body></html>
"""

_LABELS = {
    "certified_strong": "certified: strong evidence",
    "certified_corroborated_weak": "certified: corroborated weak",
    "certified_manual": "certified: manual check",
    "carried_over": "carried over (no data yet)",
    "warning": "warning",
    "suspended": "suspended (held)",
    "pending_review": "pending review (negative)",
}


def render_html(report: dict[str, Any], *, top: int = 25) -> str:
    """The report as one HTML page with inline SVG charts (autoescaped; opens offline)."""
    env = Environment(autoescape=True)
    from markupsafe import Markup

    cert = report["certification"]
    totals = report["totals"]
    by_data = sum(cert.get(k, 0) for k in ("certified_strong", "certified_corroborated_weak"))
    cards = [
        ("persons", f"{totals['persons']:,}"),
        ("certified by data", f"{by_data:,}"),
        ("by manual check", f"{cert.get('certified_manual', 0):,}"),
        ("pending review", f"{cert.get('pending_review', 0):,}"),
        ("warning", f"{cert.get('warning', 0):,}"),
        ("suspended", f"{cert.get('suspended', 0):,}"),
        ("flags", f"{totals['flags']:,}"),
        ("¥ at stake", f"{totals['amount_at_risk']:,}"),
        ("¥ recovered", f"{totals['amount_recovered']:,}"),
        ("¥ written off", f"{totals.get('amount_written_off', 0):,}"),
        ("door tasks", f"{totals['tasks']:,}"),
    ]
    villages = report["tasks_by_village"][:top]
    charts = {
        "status_chart": bar_chart([(_LABELS.get(k, k), v) for k, v in cert.items()]),
        "flag_chart": bar_chart(
            [(f["kind"], f["amount_at_risk"] or 0) for f in report["flags"]]
            + [
                (f"{f['kind']} recovered", f["amount_recovered"] or 0)
                for f in report["flags"]
                if f["amount_recovered"]
            ],
            unit=" ¥",
        ),
        "item_chart": bar_chart([(i["item_code"], i["enrolments"]) for i in report["items"]]),
        "channel_chart": bar_chart(
            [(c["channel"], c["events"]) for c in report["channels"] if c["events"]]
        ),
        "village_chart": bar_chart(
            [(f"{v['village']} {v['name'] or ''}", v["tasks"]) for v in villages]
        ),
    }
    charts["monthly_charts"] = monthly_charts(report["monthly"])
    template = env.from_string(_TEMPLATE)
    return template.render(
        r=report,
        cards=cards,
        villages=villages,
        monthly_fields=MONTHLY_FIELDS,
        fmt=figure_text,
        **{k: Markup(v) for k, v in charts.items()},
    )


#: The month-by-month charts: a title, a unit and the series of ``report["monthly"]``.
_SERIES = (
    (
        "Persons by standing",
        "persons",
        ("certified_by_data", "certified_manual", "warning", "suspended", "pending_review"),
    ),
    (
        "The month's work",
        "per month",
        (
            "reminders_sent",
            "visits_done",
            "tasks_open",
            "tipoffs_received",
            "tipoffs_checked",
            "resumed",
            "flags_raised",
            "flags_confirmed",
            "flags_dismissed",
        ),
    ),
    ("Money", "yuan", ("arrears_paid", "recovered_yuan", "offset_yuan", "written_off_yuan")),
)


def monthly_charts(monthly: list[dict[str, Any]]) -> str:
    """The month-by-month series as SVG line charts (empty without months)."""
    if not monthly:
        return ""
    months = [m["month"] for m in monthly]
    return "".join(
        line_chart(months, {k: [m[k] for m in monthly] for k in keys}, title=title, unit=unit)
        for title, unit, keys in _SERIES
    )


def figure_text(value: Any) -> str:
    """A table cell: thousands separated, shares and ratios to three decimals."""
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.3f}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,.0f}" if isinstance(value, int | float) else str(value)
