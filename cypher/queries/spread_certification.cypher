// spread_certification (write) — one certification, every benefit: copy each certified person's latest certification onto all their enrolments.
//
// Does: for each person with a Certification, takes the latest (by certified_on, then cert_id) and
//   sets on each of the person's enrolments
//     status       'pay'      the certification is 'certified' and still valid on `on`;
//                  'hold'     it is 'suspended' (warning period over) or 'pending_review'
//                             (negative evidence): a human checks before anything stops;
//                  'warning'  otherwise ('warning', or 'certified' but expired by `on`);
//     valid_until  the certification's valid_until;  certified_by  its cert_id.
// Parameters:
//   :param on => date('2026-12-31')         the day payment status is decided for
// Returns: enrollments — how many enrolments were set
// Example: linkgraph graph apply spread_certification --param on=2026-12-31
MATCH (p:Person)-[:CERTIFIED_BY]->(c:Certification)
WITH p, collect(c) AS cs
// the latest without sorting every certification of the city (31 s -> 6 s at 300 k persons)
WITH p, reduce(best = head(cs), x IN tail(cs) |
       CASE WHEN x.certified_on > best.certified_on
              OR (x.certified_on = best.certified_on AND x.cert_id > best.cert_id)
            THEN x ELSE best END) AS c
MATCH (p)-[:HAS]->(e:Enrollment)
SET e.status = CASE
      WHEN c.status = 'certified' AND c.valid_until >= $on THEN 'pay'
      WHEN c.status IN ['suspended', 'pending_review'] THEN 'hold'
      ELSE 'warning' END,
    e.valid_until = c.valid_until,
    e.certified_by = c.cert_id
RETURN count(e) AS enrollments
