// shared_identifiers — bank accounts and phones used by several persons (possible rings or family proxies).
//
// Answers: "which payment accounts or phone numbers tie different beneficiaries together?"
//   A bank account is used by a person when one of the person's enrolments is PAID_TO it;
//   a phone when the person is REACHABLE_AT it. Identifiers with fewer incoming
//   relationships than min_persons are skipped by a degree lookup before any traversal.
// Parameters:
//   :param min_persons => 2                 how many distinct persons make an identifier shared (at least 2)
// Returns: kind, number, persons, person_ids — ordered by kind, number
// Example: linkgraph query shared_identifiers --param min_persons=3
CALL () {
  MATCH (b:BankAccount) WHERE COUNT { (b)<-[:PAID_TO]-() } >= $min_persons
  MATCH (p:Person)-[:HAS]->(:Enrollment)-[:PAID_TO]->(b)
  WITH b, p ORDER BY p.person_id
  WITH b, collect(DISTINCT p.person_id) AS person_ids
  RETURN 'bank_account' AS kind, b.number AS number, person_ids
  UNION ALL
  MATCH (ph:Phone) WHERE COUNT { (ph)<-[:REACHABLE_AT]-() } >= $min_persons
  MATCH (p:Person)-[:REACHABLE_AT]->(ph)
  WITH ph, p ORDER BY p.person_id
  WITH ph, collect(DISTINCT p.person_id) AS person_ids
  RETURN 'phone' AS kind, ph.number AS number, person_ids
}
WITH kind, number, person_ids
WHERE size(person_ids) >= CASE WHEN $min_persons < 2 THEN 2 ELSE $min_persons END
RETURN kind, number, size(person_ids) AS persons, person_ids
ORDER BY kind, number
