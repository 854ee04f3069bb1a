// duplicate_claims — one person enrolled twice in one benefit item, or in two items of one exclusive group.
//
// Answers: "who draws the same benefit twice, or two benefits that exclude each other?"
//   kind 'same_item': detail is the item code; 'exclusive_group': detail is the group name.
//   Only persons with two or more enrolments are expanded (a degree lookup, no traversal).
// Parameters: none
// Returns: person_id, kind, detail, enrollment_ids, monthly_total — ordered by person_id, kind, detail
// Example: linkgraph query duplicate_claims
CALL () {
  MATCH (p:Person) WHERE COUNT { (p)-[:HAS]->() } > 1
  MATCH (p)-[:HAS]->(e:Enrollment)-[:OF]->(i:BenefitItem)
  WITH p, i, e ORDER BY e.enrollment_id
  WITH p, i, collect(e) AS es
  WHERE size(es) > 1
  RETURN p.person_id AS person_id, 'same_item' AS kind, i.code AS detail,
         [x IN es | x.enrollment_id] AS enrollment_ids,
         reduce(s = 0, x IN es | s + x.monthly_amount) AS monthly_total
  UNION ALL
  MATCH (p:Person) WHERE COUNT { (p)-[:HAS]->() } > 1
  MATCH (p)-[:HAS]->(e:Enrollment)-[:OF]->(i:BenefitItem)
  WHERE i.exclusive_group IS NOT NULL
  WITH p, i.exclusive_group AS grp, i.code AS item, e ORDER BY e.enrollment_id
  WITH p, grp, collect(e) AS es, collect(DISTINCT item) AS items
  WHERE size(items) > 1
  RETURN p.person_id AS person_id, 'exclusive_group' AS kind, grp AS detail,
         [x IN es | x.enrollment_id] AS enrollment_ids,
         reduce(s = 0, x IN es | s + x.monthly_amount) AS monthly_total
}
RETURN person_id, kind, detail, enrollment_ids, monthly_total
ORDER BY person_id, kind, detail
