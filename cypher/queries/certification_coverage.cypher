// certification_coverage — how many enrolments rest on a valid certification, by department and benefit item.
//
// Answers: "how far has no-touch recognition reached, item by item?"
//   An enrolment is covered when its person has a Certification with status 'certified'
//   and certified_on <= on <= valid_until. coverage_pct has one decimal.
// Parameters:
//   :param on => date('2026-12-31')         the day coverage is measured on (default: the as-of date)
// Returns: department, item_code, enrollments, certified, coverage_pct — ordered by department, item_code
// Example: linkgraph query certification_coverage --param on=2026-12-31
MATCH (p:Person)
WITH p, EXISTS {
  MATCH (p)-[:CERTIFIED_BY]->(c:Certification)
  WHERE c.status = 'certified' AND c.certified_on <= $on AND c.valid_until >= $on
} AS ok
MATCH (p)-[:HAS]->(e:Enrollment)-[:OF]->(i:BenefitItem)
WITH i, count(e) AS enrollments, sum(CASE WHEN ok THEN 1 ELSE 0 END) AS certified
MATCH (d:Department)-[:ADMINISTERS]->(i)
WITH d.code AS department, i.code AS item_code, enrollments, certified
RETURN department, item_code, enrollments, certified,
       round(1000.0 * certified / enrollments) / 10.0 AS coverage_pct
ORDER BY department, item_code
