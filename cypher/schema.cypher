// linkgraph graph model: written once, read by Neo4j and by Python alike.
//
// Neo4j runs the CREATE statements below (each `IF NOT EXISTS`, so re-running is
// harmless). Python (linkgraph.graph.schema) parses this same file:
//   * each uniqueness constraint gives a node label its key property;
//   * each `// NODE` line declares the label's properties and their types;
//   * each `// REL` line declares a relationship type, its end labels and properties.
// Types: string, int, float, date, boolean, string[], int[]. A `!` marks the key.
//
// Identity and enrolment
// NODE (:Person {person_id: string!, name: string, masked_name: string, pinyin: string, id_number: string, birth_date: date, gender: string, address: string, village: string, grid: string, district: string, death_date: date, death_date_text: string, open_flags: int, money_at_risk: int, ring_id: string})
// NODE (:SourceRecord {record_id: string!, source: string, name: string, id_number: string, birth_date: string, address: string, sscard_no: string})
// NODE (:Department {code: string!, name: string, name_en: string})
// NODE (:BenefitItem {code: string!, name: string, name_en: string, department: string, monthly_amount: int, exclusive_group: string})
// NODE (:Enrollment {enrollment_id: string!, item_code: string, enrolled_on: date, paid_until: date, monthly_amount: int, status: string, valid_until: date, reason: string})
// NODE (:Grid {code: string!, village: string, village_name: string, township: string, district: string})
// NODE (:Phone {number: string!})
// NODE (:BankAccount {number: string!})
// NODE (:Address {address: string!})
//
// Evidence and what is concluded from it
// NODE (:Channel {code: string!, name: string, name_en: string, polarity: string, strength: string, identifier: string, reports_death: boolean})
// NODE (:EvidenceEvent {event_key: string!, event_id: int, channel: string, occurred_on: date, occurred_on_text: string, reported_on: date, linked_by: string})
// NODE (:Certification {cert_id: string!, status: string, method: string, certified_on: date, valid_until: date, valid_until_text: string, warning_until: date, rule: string})
// NODE (:Flag {flag_id: string!, kind: string, amount_at_risk: int, amount_recovered: int, months: int, status: string, detail: string, raised_on: date})
// NODE (:Task {task_id: string!, kind: string, due_on: date, due_on_text: string, status: string, reason: string})
//
// REL (:SourceRecord)-[:RESOLVES_TO {band: string, match_probability: float}]->(:Person)
// REL (:SourceRecord)-[:RECORDS]->(:Enrollment)
// REL (:Department)-[:ADMINISTERS]->(:BenefitItem)
// REL (:Person)-[:HAS]->(:Enrollment)
// REL (:Enrollment)-[:OF]->(:BenefitItem)
// REL (:Enrollment)-[:PAID_TO]->(:BankAccount)
// REL (:Person)-[:REACHABLE_AT]->(:Phone)
// REL (:Person)-[:LIVES_IN]->(:Grid)
// REL (:Person)-[:LIVES_AT]->(:Address)
// REL (:Channel)-[:PROVIDED_BY]->(:Department)
// REL (:Person)-[:HAS_EVIDENCE]->(:EvidenceEvent)
// REL (:EvidenceEvent)-[:FROM]->(:Channel)
// REL (:Person)-[:CERTIFIED_BY]->(:Certification)
// REL (:Certification)-[:BASED_ON]->(:EvidenceEvent)
// REL (:Flag)-[:CONCERNS]->(:Person)
// REL (:Flag)-[:ON]->(:Enrollment)
// REL (:Flag)-[:CITES]->(:EvidenceEvent)
// REL (:Task)-[:FOR]->(:Person)
// REL (:Task)-[:IN]->(:Grid)
//
// Departures from the first sketch, and why:
//   * An EvidenceEvent is keyed by event_key, "CHANNEL:event_id": an event id is
//     its channel's own, and two channels may each send an event 873.
//   * EvidenceEvent and Enrollment keep their channel / item code as a property
//     too: the hot filters (negative channels, one item) need no extra hop.
//   * Flag-[:CITES]->EvidenceEvent keeps the evidence a flag rests on, as
//     Certification-[:BASED_ON] does, so an investigator can walk from either.
//   * Events no identifier could tie to a person stay in the pipeline tables and
//     do not become nodes: with no HAS_EVIDENCE edge they would evidence nobody.
//   * A Person carries the facts investigators sort and filter by, written by the
//     projection from the core's results (linkgraph.graph.model): death_date (the
//     certification's death_on), open_flags and money_at_risk (flags not yet dismissed
//     or recovered, amount at risk less amount recovered), ring_id (the smallest
//     person_id of the persons tied to it through shared bank accounts and phones),
//     pinyin (toneless syllables run together, "wangxiuying") for the name search.
//   * Address is a node, so two persons of one household are one hop apart, as with
//     phones and accounts (the connection query walks them).
//   * The graph in Neo4j is written for an audience (LINKGRAPH_NEO4J_AUDIENCE): for
//     analysts, names, ID numbers and card numbers hold their masked forms, address and
//     pinyin are left out, and Phone, BankAccount and Address are keyed by a pseudonym
//     (masked number and keyed hash); the model above is the same (cypher/README.md).
//   * A date a Browser caption shows has a text copy beside it, <date>_text ("2026-06-14"):
//     Neo4j Browser 5 writes a DATE into a caption in quotes and GraSS cannot format it, so
//     cypher/browser/style.grass captions the copy. The Neo4j store writes it on every write
//     (linkgraph.graph.model.with_date_texts); no library query reads it, and the embedded
//     store, which no Browser shows, leaves it empty.
//   * person_search is a full-text index (CJK analyzer: Chinese names in bigrams) over
//     name, pinyin and ID number: find_person asks it instead of scanning every Person.
//   * No index on EvidenceEvent beyond its key: every library query reaches events
//     from a person or a channel node, and an index over 38 M events costs a
//     minute of every bulk load (a (channel, occurred_on) index took 63 s).

CREATE CONSTRAINT person_key IF NOT EXISTS FOR (n:Person) REQUIRE n.person_id IS UNIQUE;
CREATE CONSTRAINT source_record_key IF NOT EXISTS FOR (n:SourceRecord) REQUIRE n.record_id IS UNIQUE;
CREATE CONSTRAINT department_key IF NOT EXISTS FOR (n:Department) REQUIRE n.code IS UNIQUE;
CREATE CONSTRAINT benefit_item_key IF NOT EXISTS FOR (n:BenefitItem) REQUIRE n.code IS UNIQUE;
CREATE CONSTRAINT enrollment_key IF NOT EXISTS FOR (n:Enrollment) REQUIRE n.enrollment_id IS UNIQUE;
CREATE CONSTRAINT grid_key IF NOT EXISTS FOR (n:Grid) REQUIRE n.code IS UNIQUE;
CREATE CONSTRAINT phone_key IF NOT EXISTS FOR (n:Phone) REQUIRE n.number IS UNIQUE;
CREATE CONSTRAINT bank_account_key IF NOT EXISTS FOR (n:BankAccount) REQUIRE n.number IS UNIQUE;
CREATE CONSTRAINT address_key IF NOT EXISTS FOR (n:Address) REQUIRE n.address IS UNIQUE;
CREATE CONSTRAINT channel_key IF NOT EXISTS FOR (n:Channel) REQUIRE n.code IS UNIQUE;
CREATE CONSTRAINT evidence_event_key IF NOT EXISTS FOR (n:EvidenceEvent) REQUIRE n.event_key IS UNIQUE;
CREATE CONSTRAINT certification_key IF NOT EXISTS FOR (n:Certification) REQUIRE n.cert_id IS UNIQUE;
CREATE CONSTRAINT flag_key IF NOT EXISTS FOR (n:Flag) REQUIRE n.flag_id IS UNIQUE;
CREATE CONSTRAINT task_key IF NOT EXISTS FOR (n:Task) REQUIRE n.task_id IS UNIQUE;

CREATE INDEX person_grid IF NOT EXISTS FOR (n:Person) ON (n.grid);
CREATE INDEX person_id_number IF NOT EXISTS FOR (n:Person) ON (n.id_number);
CREATE INDEX person_ring IF NOT EXISTS FOR (n:Person) ON (n.ring_id);
CREATE INDEX enrollment_item IF NOT EXISTS FOR (n:Enrollment) ON (n.item_code);
CREATE INDEX certification_valid IF NOT EXISTS FOR (n:Certification) ON (n.valid_until);
CREATE INDEX flag_kind IF NOT EXISTS FOR (n:Flag) ON (n.kind);
CREATE INDEX task_status IF NOT EXISTS FOR (n:Task) ON (n.status);
CREATE FULLTEXT INDEX person_search IF NOT EXISTS FOR (n:Person) ON EACH [n.name, n.pinyin, n.id_number]
  OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}};
