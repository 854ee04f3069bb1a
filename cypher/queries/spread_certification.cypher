// spread_certification (write) — one certification, every benefit: copy each certified person's latest certification onto all their enrolments.
//
// Does: for each person with a Certification, takes the latest (by certified_on, then cert_id) and
//   sets on each of the person's enrolments
//     status       'pay'      the certification is 'certified' and still valid on `on`;
//                  'hold'     it is 'suspended' (warning period over) or 'pending_review'
//                             (negative evidence): a human checks before anything stops;
//                  'warning'  otherwise ('warning', or 'certified' but expired by `on`);
//     valid_until  the certification's valid_until;  certified_by  its cert_id.
//   Runs in batches of 10,000 persons, two at a time, each its own transaction (in the
//     Browser: prefix :auto), so the whole city never has to fit in one transaction's memory;
//     a batch that fails leaves the earlier ones written, and running the procedure again
//     completes it (it is idempotent).
// Parameters:
//   :param on => date('2026-12-31')         the day payment status is decided for
// Returns: enrollments — how many enrolments were set
// Example: linkgraph graph apply spread_certification --param on=2026-12-31
MATCH (p:Person)
CALL (p) {
  MATCH (p)-[:CERTIFIED_BY]->(c:Certification)
  WITH p, c ORDER BY c.certified_on DESC, c.cert_id DESC LIMIT 1
  MATCH (p)-[:HAS]->(e:Enrollment)
  SET e.status = CASE
        WHEN c.status = 'certified' AND c.valid_until >= $on THEN 'pay'
        WHEN c.status IN ['suspended', 'pending_review'] THEN 'hold'
        ELSE 'warning' END,
      e.valid_until = c.valid_until,
      e.certified_by = c.cert_id
  RETURN count(e) AS spread
} IN 2 CONCURRENT TRANSACTIONS OF 10000 ROWS
RETURN sum(spread) AS enrollments
