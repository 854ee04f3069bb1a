// certification_spread — one certification, every benefit: each of one person's enrolments with the certification its status rests on.
//
// Answers: "this person is paid (or held) in every department on what certification?"
//   Reads what the domain core decided (linkgraph.recognise, in `linkgraph run` and the API):
//   each Enrollment's status, valid_until and reason as the core wrote them, beside the
//   person's Certification (one per person, key <person_id>@cert; should a graph hold more,
//   the latest by certified_on, then cert_id). It decides nothing and writes nothing.
//   cert_id, certified_on, method and rule are null when the person has no certification;
//   a person with no enrolment, or no such person, gives no rows.
// Parameters:
//   :param person_id => 'P000000001'        (required) the person's id
// Returns: person_id, enrollment_id, item_code, status, valid_until, reason, cert_id, certified_on, method, rule — ordered by enrollment_id
// Example: linkgraph query certification_spread --param person_id=P000000001
MATCH (p:Person {person_id: $person_id})
CALL (p) {
  OPTIONAL MATCH (p)-[:CERTIFIED_BY]->(c:Certification)
  RETURN c ORDER BY c.certified_on DESC, c.cert_id DESC LIMIT 1
}
MATCH (p)-[:HAS]->(e:Enrollment)
RETURN p.person_id AS person_id, e.enrollment_id AS enrollment_id, e.item_code AS item_code,
       e.status AS status, e.valid_until AS valid_until, e.reason AS reason,
       c.cert_id AS cert_id, c.certified_on AS certified_on, c.method AS method, c.rule AS rule
ORDER BY enrollment_id
