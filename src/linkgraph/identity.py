"""From resolved records to persons, enrolments and evidence tied to persons.

Linkage (``linkgraph.link``) says which roster records are one person. This
module turns that into the tables the graph is built from: one canonical row
per person (the value most records agree on, valid ID numbers first), one
enrolment per roster record, and each evidence event tied to the person its
identifier names. An identifier that names more than one person (a phone
shared by a couple, a name shared by neighbours) ties nothing: evidence is
only as good as the identity behind it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph import duck, normalise
from linkgraph.catalogue import Catalogue, Identifier, grid_number
from linkgraph.tables import ENROLLMENT, LINKED_EVENT, PERSON, conform


def normalised_records(records: pa.Table) -> pa.Table:
    """Roster records with the normalised columns linkage and canonicalisation read."""
    ids = normalise.resident_ids(records["id_number"])
    gender = pc.if_else(
        pc.is_valid(ids["id_gender"]),
        ids["id_gender"],
        pc.if_else(pc.equal(records["gender"], "女"), pa.scalar("F"), pa.scalar("M")),
    )
    return pa.table(
        {
            "record_id": records["record_id"],
            "n_name": normalise.names(records["name"]),
            "n_id_number": ids["id_number"],
            "id_status": ids["id_status"],
            "n_birth_date": pc.coalesce(
                ids["id_birth_date"], normalise.dates(records["birth_date"])
            ),
            "n_gender": pc.if_else(pc.is_valid(records["gender"]), gender, ids["id_gender"]),
            "n_phone": normalise.phones(records["phone"]),
            "n_address": normalise.addresses(records["address"]),
            "sscard_no": records["sscard_no"],
        }
    )


# ``mode`` breaks a tie by the value it met first, so each is fed in record order: a tie
# goes to the earliest record, the same on every run (unordered, threads made it vary).
_PERSONS_SQL = """
SELECT r.person_id,
       mode(n.n_name ORDER BY record_id) AS name,
       coalesce(mode(n.n_id_number ORDER BY record_id)
                  FILTER (WHERE n.id_status IN ('valid', 'repaired')),
                mode(n.n_id_number ORDER BY record_id)) AS id_number,
       mode(n.n_birth_date ORDER BY record_id) AS birth_date,
       mode(n.n_gender ORDER BY record_id) AS gender,
       mode(n.n_phone ORDER BY record_id) AS phone,
       mode(n.n_address ORDER BY record_id) AS address
FROM resolution r JOIN normalised n USING (record_id)
GROUP BY r.person_id
ORDER BY r.person_id
"""


def build_persons(normalised: pa.Table, resolution: pa.Table, catalogue: Catalogue) -> pa.Table:
    """One row per person with canonical values and the grid their home belongs to."""
    con = duck.connect()
    con.register("normalised", normalised)
    con.register("resolution", resolution)
    persons = con.sql(_PERSONS_SQL).to_arrow_table()
    village, grid, district = locate(persons["address"], catalogue)
    return conform(
        persons.append_column("village", village)
        .append_column("grid", grid)
        .append_column("district", district),
        PERSON,
        "persons",
    )


def locate(
    addresses: pa.ChunkedArray | pa.Array, catalogue: Catalogue
) -> tuple[pa.Array, pa.Array, pa.Array]:
    """Normalised addresses -> (village code, grid code, district code); null where unknown.

    ``"古井镇王楼村3组12号"`` -> the village whose township and name match, and the
    grid the city assigns to group 3, house 12 of it.
    """
    parts = pc.extract_regex(addresses, r"^(?P<place>.+?村)(?P<group>\d+)组(?P<house>\d+)号")
    townships = {t.code: t.name for t in catalogue.townships}
    places = [townships[v.township] + v.name for v in catalogue.villages]
    index = pc.index_in(pc.struct_field(parts, "place"), pa.array(places))
    found = index.is_valid().to_numpy(zero_copy_only=False)
    at = index.fill_null(0).to_numpy(zero_copy_only=False)
    villages = catalogue.villages
    grids = np.array([v.grids for v in villages], dtype=np.int64)[at]
    group = (
        pc.cast(pc.struct_field(parts, "group"), pa.int64())
        .fill_null(1)
        .to_numpy(zero_copy_only=False)
    )
    house = (
        pc.cast(pc.struct_field(parts, "house"), pa.int64())
        .fill_null(1)
        .to_numpy(zero_copy_only=False)
    )
    number = grid_number(group, house, grids)
    codes = np.array([v.code for v in villages])[at]
    village = pa.array(codes, mask=~found)
    grid = pc.binary_join_element_wise(
        village, pc.utf8_lpad(pa.array(number).cast(pa.string()), 3, "0"), "G"
    )
    district = pa.array(np.array([v.district for v in villages])[at], mask=~found)
    return village, grid, district


def build_enrollments(records: pa.Table, resolution: pa.Table, catalogue: Catalogue) -> pa.Table:
    """One enrolment per roster record, attached to the record's person."""
    joined = records.join(resolution.select(["record_id", "person_id"]), "record_id")
    items = {i.code: i.department for i in catalogue.benefit_items}
    department = pa.array(list(items.values())).take(
        pc.index_in(joined["item_code"], pa.array(list(items)))
    )
    table = joined.rename_columns({"record_id": "enrollment_id"}).append_column(
        "department", department
    )
    return conform(table.sort_by("enrollment_id"), ENROLLMENT, "enrollments")


#: An identifier that names exactly one person: :func:`identifier_keys`.
KEYS = pa.schema([("kind", pa.string()), ("value", pa.string()), ("person_id", pa.string())])

_KEYS_SQL = """
WITH keys AS (
    SELECT 'id_number' AS kind, n_id_number AS value, person_id FROM ids
    UNION ALL SELECT 'sscard_no', sscard_no, person_id FROM ids
    UNION ALL SELECT 'phone', n_phone, person_id FROM ids
    UNION ALL SELECT 'name_dob', n_name || '|' || CAST(n_birth_date AS VARCHAR), person_id FROM ids
)
-- an identifier that names two persons names nobody
SELECT kind, value, any_value(person_id) AS person_id
FROM (SELECT DISTINCT kind, value, person_id FROM keys WHERE value IS NOT NULL)
GROUP BY kind, value HAVING count(*) = 1
"""


def event_identifiers(events: pa.Table, kind: str) -> pa.Array:
    """The normalised identifier an event of this kind carries."""
    if kind == "id_number":
        return normalise.resident_ids(events["id_number"])["id_number"].combine_chunks()
    if kind == "phone":
        return normalise.phones(events["phone"])
    if kind == "name_dob":
        dob = pc.cast(normalise.dates(events["birth_date"]), pa.string())
        return pc.binary_join_element_wise(normalise.names(events["name"]), dob, "|")
    return events[kind].combine_chunks()


def _channels_by_identifier(catalogue: Catalogue) -> list[tuple[str, pa.Array]]:
    """Each identifier kind and the codes of the channels whose events carry it."""
    return [
        (kind, pa.array([c.code for c in catalogue.channels if c.identifier.value == kind]))
        for kind in [k.value for k in Identifier]
    ]


def event_identifier_keys(events: pa.Table, catalogue: Catalogue) -> pa.Array:
    """Per event, ``kind`` and normalised value of the identifier its channel carries, as
    one string (null where there is none): what :func:`link_events` looks up, for an
    engine that shares events and keys out by it."""
    out = pa.nulls(events.num_rows, pa.string())
    for kind, channels in _channels_by_identifier(catalogue):
        mine = pc.is_in(events["channel"], channels)
        if not pc.any(mine).as_py():
            continue
        where = np.flatnonzero(mine.to_numpy(zero_copy_only=False))
        values = event_identifiers(events.take(where), kind)
        keyed = pc.binary_join_element_wise(kind, values, "\x1f")
        full = np.full(events.num_rows, -1)
        full[where] = np.arange(len(where))
        taken = keyed.take(pa.array(full, mask=full < 0))
        out = pc.if_else(mine, taken, out)
    return out


def key_strings(keys: pa.Table) -> pa.Array:
    """The :func:`event_identifier_keys` string of each identifier key."""
    return pc.binary_join_element_wise(keys["kind"], keys["value"], "\x1f")


#: The columns an event's identifier of each kind is read from.
_IDENTIFIER_COLUMNS = {
    "id_number": ["id_number"],
    "sscard_no": ["sscard_no"],
    "phone": ["phone"],
    "name_dob": ["name", "birth_date"],
}

#: Events normalised at a time: the city's 37.5 M at once would hold several GiB
#: of intermediate strings.
EVENT_CHUNK_ROWS = 4_000_000


def identifier_keys(normalised: pa.Table, resolution: pa.Table) -> pa.Table:
    """``(kind, value, person_id)`` of every identifier that names exactly one person.

    The one rule for tying evidence to persons, batch and live alike: an event is
    tied through its channel's identifier kind only when the value names one person
    (an identifier shared by two persons names nobody).
    """
    ids = normalised.join(resolution.select(["record_id", "person_id"]), "record_id")
    trusted = pc.is_in(ids["id_status"], pa.array(["valid", "repaired"]))
    ids = ids.set_column(
        ids.schema.get_field_index("n_id_number"),
        "n_id_number",
        pc.if_else(trusted, ids["n_id_number"], pa.scalar(None, pa.string())),
    )
    con = duck.connect()
    con.register(
        "ids",
        ids.select(["person_id", "n_id_number", "sscard_no", "n_phone", "n_name", "n_birth_date"]),
    )
    keys = con.sql(_KEYS_SQL).to_arrow_table()
    con.close()
    return keys.cast(KEYS)


def link_events(events: pa.Table, keys: pa.Table, catalogue: Catalogue) -> pa.Table:
    """Tie each evidence event to the person its identifier names (LINKED_EVENT rows).

    ``keys`` are :func:`identifier_keys`. One pass per kind of identifier: the events
    of the channels that carry it are normalised (:func:`event_identifiers`) and
    looked up in a hash of the keys of that kind. Output rows are grouped by
    identifier kind, in input order within it. Events are taken
    :data:`EVENT_CHUNK_ROWS` at a time, and only the columns a kind reads, so
    intermediate columns stay small.
    """
    parts = []
    for kind, channels in _channels_by_identifier(catalogue):
        known = keys.filter(pc.equal(keys["kind"], kind))
        columns = ["event_id", "channel", "occurred_on", "reported_on", *_IDENTIFIER_COLUMNS[kind]]
        for offset in range(0, max(events.num_rows, 1), EVENT_CHUNK_ROWS):
            chunk = events.slice(offset, EVENT_CHUNK_ROWS).select(columns)
            these = chunk.filter(pc.is_in(chunk["channel"], channels))
            person = known["person_id"].take(
                pc.index_in(event_identifiers(these, kind), known["value"])
            )
            parts.append(
                pa.table(
                    {
                        "event_id": these["event_id"],
                        "channel": these["channel"],
                        "occurred_on": these["occurred_on"],
                        "reported_on": these["reported_on"],
                        "person_id": person,
                        "linked_by": pc.if_else(
                            pc.is_valid(person), pa.scalar(kind), pa.scalar(None, pa.string())
                        ),
                    }
                )
            )
    return conform(pa.concat_tables(parts), LINKED_EVENT, "linked events")
