// no_trace — persons with no positive evidence of life in a window, by grid: the door-to-door list.
//
// Answers: "whom must grid workers visit, grid by grid?"
//   A person is traced when any event from a positive channel occurred between since and until.
// Parameters:
//   :param since => date('2026-07-01')      first day of the window (default: 183 days before the as-of date)
//   :param until => date('2026-12-31')      last day of the window (default: the as-of date)
// Returns: grid, village, persons, person_ids — ordered by grid
// Example: linkgraph query no_trace --param since=2026-07-01 --param until=2026-12-31
MATCH (p:Person)-[:LIVES_IN]->(g:Grid)
WHERE NOT EXISTS {
  MATCH (p)-[:HAS_EVIDENCE]->(v:EvidenceEvent)-[:FROM]->(c:Channel {polarity: 'positive'})
  WHERE v.occurred_on >= $since AND v.occurred_on <= $until
}
WITH g, p ORDER BY p.person_id
WITH g, collect(p.person_id) AS person_ids
RETURN g.code AS grid, g.village_name AS village, size(person_ids) AS persons, person_ids
ORDER BY grid
