// person_360 — everything the city holds on one person: the person, their source records, enrolments, evidence, certifications, flags, tasks and phones.
//
// Answers: "show me this beneficiary across every department" (one row per linked node).
// Parameters:
//   :param person_id => 'P000000001'        (required) the person's id
// Returns: kind, id, detail, since, until, note — ordered by kind, id
//   kind          detail      since         until        note
//   person        name        birth_date    -            grid
//   record        source      -             -            RESOLVES_TO band
//   enrollment    item_code   enrolled_on   paid_until   status
//   evidence      channel     occurred_on   -            linked_by   (id is the event key, CHANNEL:event_id)
//   certification status      certified_on  valid_until  method
//   flag          kind        -             -            status
//   task          kind        due_on        -            status
//   phone         -           -             -            -
// Example: linkgraph query person_360 --param person_id=P000000001
MATCH (p:Person {person_id: $person_id})
CALL (p) {
  RETURN 'person' AS kind, p.person_id AS id, p.name AS detail, p.birth_date AS since, null AS until, p.grid AS note
  UNION ALL
  MATCH (r:SourceRecord)-[x:RESOLVES_TO]->(p)
  RETURN 'record' AS kind, r.record_id AS id, r.source AS detail, null AS since, null AS until, x.band AS note
  UNION ALL
  MATCH (p)-[:HAS]->(e:Enrollment)
  RETURN 'enrollment' AS kind, e.enrollment_id AS id, e.item_code AS detail, e.enrolled_on AS since, e.paid_until AS until, e.status AS note
  UNION ALL
  MATCH (p)-[:HAS_EVIDENCE]->(v:EvidenceEvent)
  RETURN 'evidence' AS kind, v.event_key AS id, v.channel AS detail, v.occurred_on AS since, null AS until, v.linked_by AS note
  UNION ALL
  MATCH (p)-[:CERTIFIED_BY]->(c:Certification)
  RETURN 'certification' AS kind, c.cert_id AS id, c.status AS detail, c.certified_on AS since, c.valid_until AS until, c.method AS note
  UNION ALL
  MATCH (f:Flag)-[:CONCERNS]->(p)
  RETURN 'flag' AS kind, f.flag_id AS id, f.kind AS detail, null AS since, null AS until, f.status AS note
  UNION ALL
  MATCH (t:Task)-[:FOR]->(p)
  RETURN 'task' AS kind, t.task_id AS id, t.kind AS detail, t.due_on AS since, null AS until, t.status AS note
  UNION ALL
  MATCH (p)-[:REACHABLE_AT]->(ph:Phone)
  RETURN 'phone' AS kind, ph.number AS id, null AS detail, null AS since, null AS until, null AS note
}
RETURN kind, id, detail, since, until, note
ORDER BY kind, id
