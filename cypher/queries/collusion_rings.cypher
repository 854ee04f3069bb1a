// collusion_rings — groups of payees tied together through shared bank accounts or phones, most money at risk first.
//
// Answers: "which rings of beneficiaries should investigators open first?"
//   A ring is a connected group of persons and the bank accounts and phones two or more
//   of them use (weakly connected components). The projection writes each tied person's
//   ring_id (the ring's smallest person_id) from the core's tables; this query groups by
//   it. money_at_risk sums the ring's flags not yet dismissed or recovered, each flag
//   once (amount at risk less amount recovered); open_flags counts them.
// Parameters:
//   :param min_persons => 3                 smallest ring shown
//   :param limit => 50                      most rings returned
// Returns: ring_id, persons, person_ids, open_flags, money_at_risk — ordered by money_at_risk desc, persons desc, ring_id
// Example: linkgraph query collusion_rings --param min_persons=4 --param limit=20
MATCH (p:Person) WHERE p.ring_id IS NOT NULL
WITH p ORDER BY p.person_id
WITH p.ring_id AS ring_id, collect(p) AS members
WHERE size(members) >= $min_persons
CALL (members) {
  UNWIND members AS m
  MATCH (f:Flag)-[:CONCERNS]->(m)
  WHERE NOT coalesce(f.status, 'open') IN ['dismissed', 'recovered', 'written_off']
  WITH DISTINCT f
  RETURN count(f) AS open_flags,
         sum(coalesce(f.amount_at_risk, 0) - coalesce(f.amount_recovered, 0)) AS money_at_risk
}
RETURN ring_id, size(members) AS persons, [m IN members | m.person_id] AS person_ids,
       open_flags, money_at_risk
ORDER BY money_at_risk DESC, persons DESC, ring_id
LIMIT CASE WHEN $limit > 0 THEN $limit ELSE 0 END
