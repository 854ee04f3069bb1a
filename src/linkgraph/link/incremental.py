"""Resolve one new record against existing persons without a full re-run.

In-memory indexes are built once per blocking rule: the 64-bit hash of every key
value, sorted, with a CSR list of the records holding it, so a look-up is one
``searchsorted``.  The new record is prepared with the same normalisers, scored
against its candidates with the trained model, and attached to the best person
by the clustering's own guard rails (:func:`linkgraph.link.cluster.constrained_groups`,
its candidate persons standing as nodes): it joins the person it fits best; a second
person it also fits is merged in (older ID kept, logged with the evidence) unless their
ID numbers or a reviewer forbid it; and a record without a checksum-valid ID that fits
two such persons with no decisive margin goes to review as a person of its own.

    resolver = Resolver.from_state(state_dir)
    resolver.resolve_one({"rec_id": "r9", "name": "王秀英", ...}).person_id
    resolver.save()
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.link.cluster import (
    NO_MARGIN,
    IdNumber,
    RecordIds,
    constrained_groups,
    numbers_vouched,
    one_valid_id,
    sibling_names,
)
from linkgraph.link.explain import Explanation, explain_pair
from linkgraph.link.frame import PINYIN, Frame, prepare_one
from linkgraph.link.ids import format_person_id, person_number
from linkgraph.link.levels import PairContext
from linkgraph.link.linker import Linker
from linkgraph.link.model import MATCH_THRESHOLD, REVIEW_THRESHOLD
from linkgraph.link.state import EVENTS_SCHEMA, Snapshot, effective_overrides, now


@dataclass
class KeyIndex:
    """Sorted blocking-key hashes -> the records holding them."""

    keys: np.ndarray  # sorted distinct key hashes
    starts: np.ndarray  # offsets into members, one more than keys
    members: np.ndarray  # record indices grouped by key

    @classmethod
    def build(cls, codes: np.ndarray) -> KeyIndex:
        rec = np.flatnonzero(codes >= 0)
        order = rec[np.argsort(codes[rec], kind="stable")]
        sorted_keys = codes[order]
        first = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]] if len(order) else order > 0
        starts = np.r_[np.flatnonzero(first), len(order)]
        return cls(keys=sorted_keys[first], starts=starts, members=order)

    def lookup(self, key: int, limit: int) -> np.ndarray:
        pos = int(np.searchsorted(self.keys, key))
        if key < 0 or pos >= len(self.keys) or self.keys[pos] != key:
            return self.members[:0]
        a, b = self.starts[pos], self.starts[pos + 1]
        return self.members[a:b] if b - a <= limit else self.members[:0]


@dataclass
class ValidNumbers:
    """The resident IDs some record holds checksum-valid in the live state (the city's, as
    :attr:`~linkgraph.link.cluster.RecordIds.somebodys` reads them in a batch run, and those
    of the records resolved since): ``number in valid``."""

    index: Mapping[str, int]  # value -> code of the ID column (its look-up, built anyway)
    by_code: np.ndarray  # per code: some city record's checksum-valid number
    added: set[str] = field(default_factory=set)

    @classmethod
    def of(cls, ids: RecordIds | None, index: Mapping[str, int]) -> ValidNumbers:
        return cls(index, ids.valid_codes() if ids is not None else np.zeros(0, dtype=bool))

    def __contains__(self, number: object) -> bool:
        if not isinstance(number, str):
            return False
        code = self.index.get(number, -1)
        return bool(0 <= code < len(self.by_code) and self.by_code[code]) or number in self.added

    def add(self, numbers: Iterable[IdNumber]) -> None:
        """A resolved record's numbers: its checksum-valid one is somebody's from now on."""
        self.added.update(x.value for x in numbers if x.checked)


@dataclass(frozen=True)
class Edge:
    """The new record and one candidate record, as the batch's clustering reads a pair:
    the candidate's person, the log2 odds (``-inf``: a sibling's name, no match edge
    whatever the probability), whether the two vouch for one holder and whether their
    gender differs (:meth:`~linkgraph.link.linker.LinkerClustering.vouched`, ``differs``),
    whether it is a match edge, and the candidate's ID numbers (read for a match edge
    only)."""

    person: str
    score: float
    vouched: bool
    differs: bool
    match: bool
    numbers: tuple[IdNumber, ...] = ()

    @classmethod
    def of(
        cls,
        person: str,
        prob: float,
        score: float,
        sibling: bool,
        vouched: bool,
        differs: bool,
        numbers: Callable[[], Iterable[IdNumber]],
    ) -> Edge:
        """The pair as an edge: a match edge, as the batch's
        (:meth:`~linkgraph.link.linker.LinkerClustering.cluster`), at or above the match
        threshold and no sibling's name (scored ``-inf``)."""
        match = prob >= MATCH_THRESHOLD and not sibling
        return cls(
            person,
            -np.inf if sibling else score,
            vouched,
            differs,
            match,
            tuple(numbers()) if match else (),
        )


@dataclass
class Resolution:
    record_id: str
    person_id: str
    band: str
    match_probability: float
    new_person: bool
    candidates: list[tuple[str, str, float]] = field(default_factory=list)  # record, person, p


class Resolver:
    """Holds a resolved city in memory and resolves new records one at a time."""

    def __init__(self, linker: Linker, persons: pa.Table, next_person: int, run: int):
        self.linker = linker
        self.frame: Frame = linker.frame
        # person of each record, and each person's records (CSR): numpy, not Python
        # containers, so the garbage collector has nothing large to walk per look-up
        pos = pc.index_in(pa.array(self.frame.record_id, pa.string()), persons["record_id"])
        person_col = persons["person_id"].combine_chunks().take(pos)
        self.person_of = np.asarray(person_col.to_numpy(zero_copy_only=False), dtype=object)
        encoded = pc.dictionary_encode(person_col)
        codes = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        self._person_code = {p: i for i, p in enumerate(encoded.dictionary.to_pylist())}
        self._member_order = np.argsort(codes, kind="stable")
        self._member_starts = np.r_[
            0, np.cumsum(np.bincount(codes, minlength=len(encoded.dictionary)))
        ]
        self.next_person = next_person
        self.run = run
        self.ids = linker.clustering.record_ids()
        id_col = linker.clustering.id_column()
        self.valid = ValidNumbers.of(
            self.ids, self.frame.col(id_col).index() if id_col is not None else {}
        )
        self.indexes = {r.name: KeyIndex.build(r.key_codes(self.frame)) for r in linker.rules}
        self.tf = linker.term_frequencies()
        # build lazy look-ups now, so the first resolve_one is as fast as the rest
        for column in self.frame.columns.values():
            column.index()
        _ = linker.index_of
        self.apart: dict[str, set[str]] = {}
        for pair, decision in effective_overrides(linker.store.overrides()).items():
            if decision == "apart" and len(pair) == 2:
                x, y = sorted(pair)
                self.apart.setdefault(x, set()).add(y)
                self.apart.setdefault(y, set()).add(x)
        self.added: list[tuple[Frame, str, str, float]] = []  # frame, person, band, prob
        self.added_numbers: list[list[IdNumber]] = []  # per added record, as _id_of reads it
        self.added_index: dict[tuple[str, int], list[int]] = {}
        self.events: list[dict[str, Any]] = []
        self.added_ids: set[str] = set()
        self.added_members: dict[str, list[int]] = {}  # person -> positions in added
        self.added_ids_of: dict[str, set[IdNumber]] = {}  # person -> IDs of added records
        self.merged_into: dict[str, str] = {}  # absorbed person -> the person kept
        self._saved = (0, 0)  # records, events already written

    @classmethod
    def from_state(cls, state_dir: str | Path | None = None) -> Resolver:
        linker = Linker.from_state(state_dir)
        snap = linker.store.load(with_records=False)
        assert snap is not None and linker.persons is not None
        return cls(linker, linker.persons, snap.next_person, snap.run)

    @classmethod
    def from_linker(cls, linker: Linker) -> Resolver:
        if linker.persons is None:
            linker.resolve()
        snap = linker.store.load(with_records=False)
        assert linker.persons is not None
        next_person = (
            snap.next_person
            if snap
            else 1
            + max(
                (person_number(p) for p in linker.persons.column("person_id").to_pylist()),
                default=0,
            )
        )
        return cls(linker, linker.persons, next_person, snap.run if snap else 0)

    # ------------------------------------------------------------------ one record

    def _prepare(self, record: dict[str, Any]) -> Frame:
        return prepare_one(record, self.linker.mapping, self.frame.chinese_id)

    def _id_of(self, one: Frame) -> list[IdNumber]:
        """The new record's ID number and cards as the clustering reads them (none if
        unusable)."""
        from linkgraph.link.linker import Linker

        ids = Linker.clustering_of(one, self.linker.policy).record_ids()
        return ids.of(0) if ids is not None else []

    def _numbers_of(self, i: int) -> list[IdNumber]:
        """City record ``i``'s ID number and cards as the clustering reads them."""
        return self.ids.of(i) if self.ids is not None else []

    def _siblings(
        self,
        one: Frame,
        my_ids: list[IdNumber],
        other: Frame,
        ids: RecordIds | None,
        rows: np.ndarray,
    ) -> np.ndarray:
        """Per candidate (``rows`` of ``other``: the city's frame, or a record resolved
        since, with their ``ids``): a sibling's name (:func:`sibling_names`) and no one
        checksum-valid ID between them (:func:`one_valid_id`) -- not a match, as in the
        bulk run."""
        out = np.zeros(len(rows), dtype=bool)
        mine = next((x for x in my_ids if not x.card), None)
        for col, kind in self.frame.kinds.items():
            if kind == "name":
                key = one.col(col + PINYIN).values[0].as_py()
                theirs = other.col(col + PINYIN).values.take(pa.array(rows)).to_pylist()
                out |= np.array([sibling_names(key, t) for t in theirs], dtype=bool)
        if mine is not None and ids is not None:
            theirs = ids.checked[rows], ids.value[rows]
            out &= ~one_valid_id(mine.checked, mine.value, *theirs)
        return out

    def current(self, person: str) -> str:
        """The person a (possibly merged) person ID now stands for."""
        while person in self.merged_into:
            person = self.merged_into[person]
        return person

    def resolve_one(self, record: dict[str, Any], *, keep: bool = True) -> Resolution:
        """Attach ``record`` to its best-matching person, or start a new person.

        ``keep=False`` only looks: the answer is the same, and the resolver is left as it
        was (no record added, no person id used up), as a read-only service needs.
        """
        one = self._prepare(record)
        rid = str(one.record_id[0])
        if rid in self.linker.index_of or rid in self.added_ids:
            raise ValueError(f"record {rid!r} is already resolved; re-run resolve() to change it")
        limit = self.linker.max_block
        found: list[np.ndarray] = []
        added_hits: set[int] = set()
        keys: list[tuple[str, int]] = []
        for rule in self.linker.rules:
            key = int(rule.key_codes(one)[0])
            if key < 0:
                continue
            keys.append((rule.name, key))
            found.append(self.indexes[rule.name].lookup(key, limit))
            added_hits.update(self.added_index.get((rule.name, key), []))
        cand = np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)
        my_ids = self._id_of(one)
        scored: list[tuple[str, str, float]] = []
        edges: list[Edge] = []
        vouches = self.linker.clustering.vouched
        differs = self.linker.clustering.differs
        if len(cand):
            ctx = PairContext(one, self.frame, np.zeros(len(cand), dtype=np.int64), cand)
            gamma, score, prob = self.linker.model.predict(ctx, self.tf)
            vouched = vouches(gamma)
            unlike = differs(gamma)
            sibling = self._siblings(one, my_ids, self.frame, self.ids, cand)
            for k, (i, p) in enumerate(zip(cand.tolist(), prob.tolist(), strict=True)):
                person = self.current(self.person_of[i])
                scored.append((str(self.frame.record_id[i]), person, p))
                # a sibling's name is no match, as in the bulk run: scored -inf
                edges.append(
                    Edge.of(
                        person,
                        p,
                        float(score[k]),
                        bool(sibling[k]),
                        bool(vouched[k]),
                        bool(unlike[k]),
                        partial(self._numbers_of, i),
                    )
                )
        for j in sorted(added_hits):
            other, person, _, _ = self.added[j]
            theirs = self.added_numbers[j]
            ctx = PairContext(one, other, np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64))
            gamma, score, prob = self.linker.model.predict(ctx, self.tf)
            first = np.zeros(1, dtype=np.int64)
            sib = self._siblings(one, my_ids, other, RecordIds.of_records([theirs], ()), first)
            person = self.current(person)
            p = float(prob[0])
            scored.append((str(other.record_id[0]), person, p))
            edges.append(
                Edge.of(
                    person,
                    p,
                    float(score[0]),
                    bool(sib[0]),
                    bool(vouches(gamma)[0]),
                    bool(differs(gamma)[0]),
                    partial(list, theirs),
                )
            )
        order = sorted(range(len(scored)), key=lambda k: -scored[k][2])
        scored, edges = [scored[k] for k in order], [edges[k] for k in order]
        joined, review_note, merged = self._place(rid, my_ids, edges)
        best = scored[0][2] if scored else 0.0
        if joined is not None:
            person, band, new = joined, "match", False
            prob_out = max(
                p
                for (_, q, p), edge in zip(scored, edges, strict=True)
                if self.current(q) in {joined, *merged} and edge.score > -np.inf
            )
        else:
            person = format_person_id(self.next_person)
            prob_out, new = best, True
            band = "review" if best >= REVIEW_THRESHOLD or review_note else "non-match"
        if not keep:
            return Resolution(rid, person, band, prob_out, new, scored[:10])
        if new:
            self.next_person += 1
        for absorbed in merged:
            self.merged_into[absorbed] = person
            moved = self.added_members.pop(absorbed, [])
            self.added_members.setdefault(person, []).extend(moved)
            held = self.added_ids_of.pop(absorbed, set())
            self.added_ids_of.setdefault(person, set()).update(held)
            self.events.append(
                {
                    "event": "merge",
                    "person_id": person,
                    "other_person_ids": [absorbed],
                    "records": 1,
                    "detail": f"record {rid} fits both, no ID number or reviewer keeps them "
                    "apart; older ID kept",
                }
            )
        self.added.append((one, person, band, prob_out))
        self.added_numbers.append(my_ids)
        self.added_ids.add(rid)
        self.added_members.setdefault(person, []).append(len(self.added) - 1)
        self.added_ids_of.setdefault(person, set()).update(my_ids)
        self.valid.add(my_ids)
        for rule_key in keys:
            self.added_index.setdefault(rule_key, []).append(len(self.added) - 1)
        self.events.append(
            {
                "event": "create" if new else "attach",
                "person_id": person,
                "other_person_ids": [],
                "records": 1,
                "detail": f"record {rid}" + (f"; review: {review_note}" if review_note else ""),
            }
        )
        return Resolution(rid, person, band, prob_out, new, scored[:10])

    def _place(
        self, rid: str, my_ids: list[IdNumber], edges: list[Edge]
    ) -> tuple[str | None, str, list[str]]:
        """(person joined or None, why it went to review, persons merged into it).

        The new record's match edges (candidates at or above the match threshold, not a
        sibling's name) are the batch's: the numbers they vouch for as one holder's (evidence
        of a slip in a near ID number) are the batch's rule, of the two records' own numbers
        on each edge (:func:`~linkgraph.link.cluster.numbers_vouched`)."""
        forbidden = self.apart.get(rid, set())
        match = [e for e in edges if e.match]
        best: dict[str, float] = {}
        for e in match:
            best[e.person] = max(best.get(e.person, -np.inf), e.score)
        if not best:
            return None, "", []
        ids: dict[str, list[IdNumber]] = {"": my_ids}
        apart: list[tuple[str, str]] = []
        for person in best:
            ids[person] = self._ids_of(person)
            if forbidden and forbidden & self._record_ids_of(person):
                apart.append(("", person))
        records = {person: self._record_ids_of(person) for person in best}
        for x, y in itertools.combinations(best, 2):  # a reviewer kept them apart
            if any(self.apart.get(r, set()) & records[y] for r in records[x]):
                apart.append((x, y))
        # the new record is 0, its match edges' candidates 1..k
        k = len(match)
        vouched_numbers = numbers_vouched(
            np.zeros(k, dtype=np.int64),
            np.arange(1, k + 1, dtype=np.int64),
            RecordIds.of_records([my_ids, *(e.numbers for e in match)], self.valid),
            np.array([e.vouched for e in match], dtype=bool),
            np.array([e.differs for e in match], dtype=bool),
        )
        groups, _, decisions = constrained_groups(
            ["", *best],
            [("", person, score) for person, score in best.items()],
            ids,
            unchecked=set() if any(x.checked for x in my_ids) else {""},
            apart=apart,
            vouched_numbers=vouched_numbers,
            policy=self.linker.policy,
        )
        review = next((d.detail for d in decisions if d.rule == NO_MARGIN), "")
        mine = sorted(next(g for g in groups if "" in g) - {""}, key=person_number)
        if review or not mine:
            return None, review, []
        return mine[0], "", mine[1:]  # the oldest ID is kept

    def members(self, person: str) -> np.ndarray:
        """Indices of the city records of ``person`` and of the persons merged into it
        (not counting records added since)."""
        parts = [
            self._member_order[self._member_starts[code] : self._member_starts[code + 1]]
            for p in (person, *self._absorbed(person))
            if (code := self._person_code.get(p)) is not None
        ]
        return np.concatenate(parts) if parts else self._member_order[:0]

    def _absorbed(self, person: str) -> list[str]:
        return [p for p in self.merged_into if self.current(p) == person]

    def _ids_of(self, person: str) -> list[IdNumber]:
        found = set(self.added_ids_of.get(person, set()))
        if self.ids is not None:
            for i in self.members(person).tolist():
                found.update(self.ids.of(i))
        return sorted(found, key=lambda x: (x.value, x.typos))

    def _record_ids_of(self, person: str) -> set[str]:
        out = {str(r) for r in self.frame.record_id[self.members(person)].tolist()}
        out |= {str(self.added[j][0].record_id[0]) for j in self.added_members.get(person, [])}
        return out

    def explain_one(self, record: dict[str, Any], other_record_id: str) -> Explanation:
        one = self._prepare(record)
        j = self.linker.index_of[other_record_id]
        return explain_pair(self.linker.model, one, 0, self.frame, j, self.tf)

    # ------------------------------------------------------------------ persistence

    def save(self) -> Path:
        """Write the state with the records resolved so far appended (atomically)."""
        store = self.linker.store
        snap = store.load()
        if snap is None:
            raise FileNotFoundError(f"no linkage state under {store.path}")
        added = self.added[self._saved[0] :]
        rows = pa.table(
            {
                "record_id": [str(f.record_id[0]) for f, *_ in added],
                "person_id": [self.current(p) for _, p, _, _ in added],
                "band": [b for _, _, b, _ in added],
                "match_probability": pa.array([x for *_, x in added], pa.float64()),
            },
            schema=snap.persons.schema,
        )
        records = snap.records
        if records is not None and added:
            new = pa.concat_tables([f.raw.select(records.column_names) for f, *_ in added])
            records = pa.concat_tables([records, new.cast(records.schema)])
        run = snap.run + 1
        stamp = now()
        events = pa.Table.from_pylist(
            [e | {"run": run, "at": stamp} for e in self.events[self._saved[1] :]],
            schema=EVENTS_SCHEMA,
        )
        persons = pa.concat_tables([snap.persons, rows])
        if self.merged_into:
            ids = persons["person_id"].combine_chunks()
            absorbed = pa.array(list(self.merged_into), pa.string())
            kept = pa.array([self.current(p) for p in self.merged_into], pa.string())
            ids = pc.coalesce(kept.take(pc.index_in(ids, absorbed)), ids)
            persons = persons.set_column(1, "person_id", ids)
        out = Snapshot(
            persons=persons,
            events=pa.concat_tables([snap.events, events]),
            records=records,
            decisions=snap.decisions,
            terms=snap.terms,  # the city's value counts; a few added records barely move them
            model=snap.model,
            meta=snap.meta | {"run": run, "next_person": self.next_person},
        )
        path = store.save(out)
        self._saved = (len(self.added), len(self.events))
        return path
