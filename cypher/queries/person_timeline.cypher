// person_timeline — one person's life in the city, month by month: evidence, certifications, payments, flags, tasks.
//
// Answers: "what happened to this person, and what did the city do, month by month?"
//   One row per month and kind: evidence (events by occurred_on; detail: channels),
//   certification (by certified_on; detail: status), payment (every month from the
//   enrolment's month to paid_until; amount: the monthly amounts; detail: item codes),
//   flag (by raised_on; amount: money at risk; detail: kinds), task (by due_on; detail:
//   kinds). Only months from since to until; month is 'YYYY-MM'; amount is null for
//   evidence, certifications and tasks.
// Parameters:
//   :param person_id => 'P000000001'        (required) the person's id
//   :param since => date('2026-01-01')      first day shown (default: 365 days before the as-of date)
//   :param until => date('2026-12-31')      last day shown (default: the as-of date)
// Returns: month, kind, items, amount, detail — ordered by month, kind
// Example: linkgraph query person_timeline --param person_id=P000000001
MATCH (p:Person {person_id: $person_id})
CALL (p) {
  MATCH (p)-[:HAS_EVIDENCE]->(v:EvidenceEvent)
  WHERE v.occurred_on >= $since AND v.occurred_on <= $until
  RETURN left(toString(v.occurred_on), 7) AS month, 'evidence' AS kind, v.channel AS what, null AS amount
  UNION ALL
  MATCH (p)-[:CERTIFIED_BY]->(c:Certification)
  WHERE c.certified_on >= $since AND c.certified_on <= $until
  RETURN left(toString(c.certified_on), 7) AS month, 'certification' AS kind, c.status AS what, null AS amount
  UNION ALL
  MATCH (p)-[:HAS]->(e:Enrollment)
  WHERE e.enrolled_on IS NOT NULL AND e.paid_until IS NOT NULL
  WITH e, date.truncate('month', CASE WHEN e.enrolled_on > $since THEN e.enrolled_on ELSE $since END) AS first,
       CASE WHEN e.paid_until < $until THEN e.paid_until ELSE $until END AS last
  UNWIND range(0, (last.year - first.year) * 12 + last.month - first.month) AS k
  RETURN left(toString(first + duration({months: k})), 7) AS month, 'payment' AS kind,
         e.item_code AS what, e.monthly_amount AS amount
  UNION ALL
  MATCH (f:Flag)-[:CONCERNS]->(p)
  WHERE f.raised_on >= $since AND f.raised_on <= $until
  RETURN left(toString(f.raised_on), 7) AS month, 'flag' AS kind, f.kind AS what,
         coalesce(f.amount_at_risk, 0) - coalesce(f.amount_recovered, 0) AS amount
  UNION ALL
  MATCH (t:Task)-[:FOR]->(p)
  WHERE t.due_on >= $since AND t.due_on <= $until
  RETURN left(toString(t.due_on), 7) AS month, 'task' AS kind, t.kind AS what, null AS amount
}
WITH month, kind, what, amount ORDER BY what
WITH month, kind, count(*) AS items, sum(amount) AS total, collect(DISTINCT what) AS detail
RETURN month, kind, items, CASE WHEN kind IN ['payment', 'flag'] THEN total END AS amount, detail
ORDER BY month, kind
