// paid_after_death — enrolments still paid after the person's death was reported.
//
// Answers: "which benefits kept paying a dead person, for how many months, how much?"
//   Death date = the earliest occurred_on among the person's events from a channel that
//   reports a death (Channel.reports_death: the policy's [negative] death_channels).
//   months = paid_until's month − death month (only rows with months > 0);
//   amount = months × the enrolment's monthly_amount (yuan).
// Parameters: none
// Returns: person_id, death_date, enrollment_id, item_code, paid_until, months, amount — ordered by person_id, enrollment_id
// Example: linkgraph query paid_after_death --format csv
MATCH (p:Person)-[:HAS_EVIDENCE]->(v:EvidenceEvent)-[:FROM]->(c:Channel)
WHERE c.reports_death
WITH p, min(v.occurred_on) AS death_date
MATCH (p)-[:HAS]->(e:Enrollment)
WITH p, death_date, e,
     (e.paid_until.year * 12 + e.paid_until.month) - (death_date.year * 12 + death_date.month) AS months
WHERE months > 0
RETURN p.person_id AS person_id, death_date, e.enrollment_id AS enrollment_id,
       e.item_code AS item_code, e.paid_until AS paid_until, months,
       months * e.monthly_amount AS amount
ORDER BY person_id, enrollment_id
