// connection — how two persons are tied: the shortest chain of shared phones, bank accounts and addresses, hop by hop.
//
// Answers: "why do these two people turn up together?"
//   Walks only what two persons can share: a phone they are REACHABLE_AT, an address
//   they LIVE_AT (one household), a bank account their enrolments are PAID_TO (never a
//   benefit item, a grid or a channel, which half the city shares). Shortest by
//   relationships (a phone or an address is 2, an account 4), at most 12; of several
//   shortest chains, the one whose node keys come first. One row per hop from a person
//   to the next: kind (phone, bank_account, address), number (the phone, account or
//   address) and what the hop means. No rows when either is unknown, both are one, or
//   nothing ties them within 12 relationships.
// Parameters:
//   :param person_id => 'P000000001'        (required) one person
//   :param other_id => 'P000000002'         (required) the other person
// Returns: hop, person_id, kind, number, next_person_id, meaning — ordered by hop
// Example: linkgraph query connection --param person_id=P000000001 --param other_id=P000000002
MATCH (a:Person {person_id: $person_id}), (b:Person {person_id: $other_id})
WHERE a <> b
MATCH path = allShortestPaths((a)-[:REACHABLE_AT|LIVES_AT|HAS|PAID_TO*..12]-(b))
WITH nodes(path) AS ns,
     [n IN nodes(path) | coalesce(n.person_id, n.enrollment_id, n.number, n.address)] AS keys
ORDER BY keys LIMIT 1
WITH ns, [i IN range(0, size(ns) - 1) WHERE ns[i]:Person] AS at
UNWIND range(0, size(at) - 2) AS k
WITH k, ns[at[k]] AS here, ns[at[k + 1]] AS there,
     [x IN ns[at[k] + 1..at[k + 1]] WHERE x:Phone OR x:BankAccount OR x:Address][0] AS link
WITH k, here, there, link,
     CASE WHEN link:Phone THEN 'phone' WHEN link:BankAccount THEN 'bank_account' ELSE 'address' END AS kind
RETURN k + 1 AS hop, here.person_id AS person_id, kind, coalesce(link.number, link.address) AS number,
       there.person_id AS next_person_id,
       CASE kind WHEN 'phone' THEN 'both reachable at this phone'
                 WHEN 'bank_account' THEN 'benefits of both paid into this account'
                 ELSE 'one household: both live at this address' END AS meaning
ORDER BY hop
