"""The public façade: :class:`Linker` with components, and :func:`resolve`.

    linker = Linker(table, "seed/mappings/febrl4.toml", state_dir=tmp)
    persons = linker.resolve()                     # train, predict, cluster, stable IDs, save
    linker.explanations.explain("rec-1-org", "rec-1-dup-0")
    linker.review.force_apart("a", "b", who="li.wei", why="twins, checked in person")

Components hold a reference back to the linker: ``training`` (u, m, prior),
``inference`` (candidate pairs, probabilities), ``clustering`` (persons, stable IDs,
state), ``review`` (audited overrides), ``explanations``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from collections.abc import Mapping as AbcMapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from linkgraph.link.blocking import DEFAULT_MAX_BLOCK, BlockingRule, candidate_pairs, default_rules
from linkgraph.link.cluster import (
    CHECKED,
    FORCED,
    NO_MARGIN,
    SIBLING_NAMES,
    TYPOS,
    Decision,
    GuardPolicy,
    RecordIds,
    cluster,
    describe,
    one_valid_id,
    sibling_names,
)
from linkgraph.link.comparisons import Comparison, comparisons_for
from linkgraph.link.explain import Explanation, explain_pair
from linkgraph.link.frame import PINYIN, STATUS, Frame, distinct_pairs, prepare, prepare_one
from linkgraph.link.ids import assign_person_ids
from linkgraph.link.levels import ExactLevel, PairContext
from linkgraph.link.mapping import LinkMapping
from linkgraph.link.model import (
    MATCH_THRESHOLD,
    REVIEW_THRESHOLD,
    FellegiSunterModel,
    TermFrequencies,
    estimate_u,
    train,
)
from linkgraph.link.state import PERSONS_SCHEMA, Snapshot, StateStore, effective_overrides

MappingLike = str | Path | AbcMapping[str, Any] | LinkMapping
#: the frame's ID status -> the trust of :data:`linkgraph.link.cluster.TYPOS`: "repaired"
#: is left only for legacy 15-digit numbers (see :func:`linkgraph.link.frame.prepare`)
STATUS_TRUST = {"valid": "checked", "repaired": "legacy", "invalid": "fails check"}
#: the statuses whose number is checksum-valid (:attr:`RecordIds.checked`), and the form
#: a resident ID must have to be compared with another at all
CHECKED_STATUSES = tuple(s for s, trust in STATUS_TRUST.items() if TYPOS[trust] == CHECKED)
WELL_FORMED_ID = "^[0-9]{17}[0-9X]$"


#: The guard's decisions as saved (``decisions.parquet``): typed even when there are none,
#: so that a state whose guard never fired reads back (a column of nulls does not cast).
DECISIONS = pa.schema([(name, pa.string()) for name in ("record_a", "record_b", "rule", "detail")])


@dataclass
class Predictions:
    """Scored candidate pairs (record indices into the linker's frame)."""

    left: np.ndarray
    right: np.ndarray
    gamma: np.ndarray
    score: np.ndarray
    probability: np.ndarray

    def __len__(self) -> int:
        return len(self.left)


class LinkerTraining:
    """Unsupervised estimation: u from random pairs, m by EM, prior from recall."""

    def __init__(self, linker: Linker):
        self._linker = linker

    def estimate_u(self, sample: int = 400_000, seed: int = 0) -> None:
        lk = self._linker
        estimate_u(lk.model, lk.frame, sample=sample, seed=seed)

    def estimate_m_and_prior(self) -> None:
        lk = self._linker
        li, ri, gamma = lk.inference.candidate_gamma()
        keys = {r.name: r.key_codes(lk.frame) for r in lk.rules if r.train}
        train(lk.model, gamma, li, ri, lk.rules, keys, len(lk.frame))

    def fit(self) -> FellegiSunterModel:
        self.estimate_u()
        self.estimate_m_and_prior()
        return self._linker.model


class LinkerInference:
    """Candidate pairs by blocking and their match probabilities."""

    def __init__(self, linker: Linker):
        self._linker = linker
        self._cache: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None

    def candidate_gamma(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(left, right, levels) for every blocked pair; computed once."""
        if self._cache is None:
            lk = self._linker
            li, ri = candidate_pairs(lk.frame, lk.rules, lk.max_block)
            ctx = lk.context(li, ri)
            self._cache = (li, ri, lk.model.gamma(ctx))
        return self._cache

    def predict(self) -> Predictions:
        lk = self._linker
        li, ri, gamma = self.candidate_gamma()
        _, score, prob = lk.model.predict(lk.context(li, ri), lk.term_frequencies(), gamma)
        return Predictions(li, ri, gamma, score, prob)

    def predictions_table(self, predictions: Predictions | None = None) -> pa.Table:
        p = predictions or self.predict()
        rid = self._linker.frame.record_id
        from linkgraph.link.model import band_of

        return pa.table(
            {
                "record_id_l": pa.array(rid[p.left], pa.string()),
                "record_id_r": pa.array(rid[p.right], pa.string()),
                "score": p.score,
                "match_probability": p.probability,
                "band": band_of(p.probability),
            }
        )


class LinkerClustering:
    """Persons from predictions, guard rails, stable IDs and the saved state."""

    def __init__(self, linker: Linker):
        self._linker = linker
        self.decisions: pa.Table = pa.table(describe([], linker.frame.record_id), schema=DECISIONS)

    def record_ids(self, held: np.ndarray | None = None) -> RecordIds | None:
        """Per record, its resident ID in canonical form and the typos it may carry:
        checksum-valid, a legacy 15-digit number upgraded to 18, or a well-formed number
        whose check fails; and its personal cards' numbers. ``held``: per record, whether
        its number is somebody's checksum-valid number in the whole city, when this frame
        holds only some of the city's records (:attr:`RecordIds.held`)."""
        fr = self._linker.frame
        col = self.id_column()
        if col is None:
            return None
        status = fr.col(col + STATUS)
        typos_of_status = np.array(
            [TYPOS.get(STATUS_TRUST.get(v, ""), -1) for v in status.uniques.tolist()] + [-1],
            dtype=np.int8,
        )
        typos = typos_of_status[status.codes]  # code -1 (null) takes the last
        column = fr.col(col)
        well_formed = pc.fill_null(
            pc.match_substring_regex(pa.array(column.uniques, pa.string()), WELL_FORMED_ID),
            False,
        ).to_numpy(zero_copy_only=False)
        usable = (column.codes >= 0) & (typos >= 0)
        usable[usable] = well_formed[column.codes[usable]]
        code = np.where(usable, column.codes, -1).astype(np.int64)
        value = np.full(len(fr), None, dtype=object)
        value[usable] = column.uniques[column.codes[usable]]
        cards = {
            c: (fr.col(c).codes, fr.col(c).uniques)
            for c in self._linker.policy.personal_identifiers
            if fr.kinds.get(c) == "national_id"
        }
        return RecordIds(value=value, typos=typos, code=code, cards=cards, held=held)

    def id_column(self) -> str | None:
        """The resident-ID column the guard reads (the first Chinese one), if any: the codes
        of :meth:`record_ids` are its codes."""
        return next((c for c, chinese in self._linker.frame.chinese_id.items() if chinese), None)

    def sibling_pairs(
        self, left: np.ndarray, right: np.ndarray, where: np.ndarray, ids: RecordIds | None
    ) -> np.ndarray:
        """Pairs (among ``where``) whose names are :func:`sibling_names` and that hold no
        one checksum-valid ID between them (:func:`one_valid_id`): not a match, whatever
        else agrees."""
        fr = self._linker.frame
        out = np.zeros(len(left), dtype=bool)
        for col, kind in fr.kinds.items():
            if kind != "name":
                continue
            py = fr.col(col + PINYIN)
            lc, rc = py.codes[left], py.codes[right]
            todo = np.flatnonzero(where & (lc >= 0) & (rc >= 0) & (lc != rc))
            if len(todo) == 0:
                continue
            ua, ub, inverse = distinct_pairs(lc[todo], rc[todo], len(py.uniques))
            names = py.uniques
            flag = np.array(
                [
                    sibling_names(names[x], names[y])
                    for x, y in zip(ua.tolist(), ub.tolist(), strict=True)
                ],
                dtype=bool,
            )
            out[todo] |= flag[inverse]
        if ids is not None and out.any():
            checked = ids.checked
            out &= ~one_valid_id(checked[left], ids.code[left], checked[right], ids.code[right])
        return out

    def vouched(self, gamma: np.ndarray) -> np.ndarray:
        """Per pair: do the two records vouch for one holder, with no category field
        (gender) disagreeing? They do when some name field agrees, exactly or in sound (its
        exact levels), or a personal identifier (:attr:`GuardPolicy.personal_identifiers`:
        a social-security card, issued to one person only) is the same. The evidence that
        one of two near ID numbers was mistyped."""
        lk = self._linker
        out = np.zeros(len(gamma), dtype=bool)
        for k, c in enumerate(lk.model.comparisons):
            kind = lk.frame.kinds.get(c.name)
            if kind == "name" or (
                kind == "national_id" and c.name in lk.policy.personal_identifiers
            ):
                exact = [i for i, lv in enumerate(c.levels) if isinstance(lv, ExactLevel)]
                out |= np.isin(gamma[:, k], exact)
        return out & ~self.differs(gamma)

    def differs(self, gamma: np.ndarray) -> np.ndarray:
        """Per pair: does a category field (gender) disagree? Twins and relatives of one
        name differ so; one person's records, whatever their slips, do not."""
        lk = self._linker
        out = np.zeros(len(gamma), dtype=bool)
        for k, c in enumerate(lk.model.comparisons):
            if lk.frame.kinds.get(c.name) == "category":
                out |= gamma[:, k] == len(c.levels) - 1  # the last level: anything else
        return out

    def cluster(
        self,
        predictions: Predictions,
        overrides: pa.Table | None = None,
        held: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(labels, best probability to a record of its own person, best to any) per record
        (:func:`record_bands` reads them), honouring the reviewers' decisions (``overrides``:
        the saved ones unless given, as a preview gives them); the guard's decisions are
        kept in ``self.decisions``. ``held``: see :meth:`record_ids`."""
        lk = self._linker
        n = len(lk.frame)
        overrides = lk.store.overrides() if overrides is None else overrides
        index = lk.index_of if overrides.num_rows else {}
        links: list[tuple[int, int]] = []
        aparts: list[tuple[int, int]] = []
        for pair, decision in effective_overrides(overrides).items():
            ids = sorted(pair)
            if len(ids) != 2 or ids[0] not in index or ids[1] not in index:
                continue
            (aparts if decision == "apart" else links).append((index[ids[0]], index[ids[1]]))
        match = predictions.probability >= MATCH_THRESHOLD
        record_ids = self.record_ids(held)
        siblings = self.sibling_pairs(predictions.left, predictions.right, match, record_ids)
        match &= ~siblings
        a, b, p = predictions.left[match], predictions.right[match], predictions.probability[match]
        score = predictions.score[match]
        vouched = self.vouched(predictions.gamma[match])
        differs = self.differs(predictions.gamma[match])
        if links:
            la, lb = np.array(links).T
            a, b = np.r_[a, la], np.r_[b, lb]
            p = np.r_[p, np.full(len(la), FORCED)]
            score = np.r_[score, np.full(len(la), np.inf)]
            vouched = np.r_[vouched, np.zeros(len(la), dtype=bool)]
            differs = np.r_[differs, np.zeros(len(la), dtype=bool)]
        clusters = cluster(
            n,
            a,
            b,
            p,
            record_ids,
            aparts,
            score=score,
            vouched=vouched,
            differs=differs,
            policy=lk.policy,
        )
        labels = clusters.labels
        refused = [
            Decision(int(x), int(y), SIBLING_NAMES, f"{SIBLING_NAMES} (score {s:.1f})")
            for x, y, s in zip(
                predictions.left[siblings].tolist(),
                predictions.right[siblings].tolist(),
                predictions.score[siblings].tolist(),
                strict=True,
            )
        ]
        self.decisions = pa.table(
            describe(refused + clusters.decisions, lk.frame.record_id), schema=DECISIONS
        )
        prob_all = np.r_[predictions.probability, np.full(len(links), 1.0)]
        left = np.r_[predictions.left, np.array([x for x, _ in links], dtype=np.int64)]
        right = np.r_[predictions.right, np.array([y for _, y in links], dtype=np.int64)]
        return (labels, *best_probabilities(labels, left, right, prob_all))

    def persons(self, predictions: Predictions, save: bool = True) -> pa.Table:
        """Cluster, assign stable person IDs against the saved state, and save."""
        lk = self._linker
        labels, best_same, best_any = self.cluster(predictions)
        band, prob = record_bands(labels, best_same, best_any)

        def saved() -> SavedParts:
            return SavedParts(
                records=lk.records_table(),
                decisions=self.decisions,
                terms=lk.terms_table(),
                model=lk.model.to_dict(),
                meta=resolution_meta(
                    lk.mapping, lk.max_block, lk.timings, lk.frame.chinese_id, lk.term_frequencies()
                ),
            )

        return persons_of(lk.store, lk.frame.record_id, labels, band, prob, saved if save else None)


def best_probabilities(
    labels: np.ndarray, left: np.ndarray, right: np.ndarray, prob: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per record: its best match probability to a record of its own person, and to any."""
    n = len(labels)
    same = labels[left] == labels[right]
    best_same = np.zeros(n)
    best_any = np.zeros(n)
    for side in (left, right):
        np.maximum.at(best_any, side, prob)
        np.maximum.at(best_same, side[same], prob[same])
    return best_same, best_any


def record_bands(
    labels: np.ndarray, best_same: np.ndarray, best_any: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(band, match_probability) per record: "match" when its person has other records,
    "review" when its best pair came near, else "non-match"; the probability is the best
    to a record of its own person, else the best overall."""
    prob = np.where(best_same > 0, np.minimum(best_same, 1.0), best_any)
    sizes = np.bincount(labels, minlength=len(labels))
    band = np.where(
        sizes[labels] > 1,
        "match",
        np.where(best_any >= REVIEW_THRESHOLD, "review", "non-match"),
    )
    return band, prob


@dataclass
class SavedParts:
    """What a resolution saves besides its persons: the records, the guard's decisions,
    the value counts, the model and what explains them."""

    records: pa.Table
    decisions: pa.Table
    terms: pa.Table
    model: dict[str, Any]
    meta: dict[str, Any]


TERMS = pa.schema([("column", pa.string()), ("value", pa.string()), ("count", pa.int64())])


def terms_table(counted: dict[str, tuple[Any, Any]]) -> pa.Table:
    """Per term-frequency column, its values and how many records hold each, as one
    :data:`TERMS` table (saved with the state; ``explain`` reads a value's count back)."""
    parts = [
        pa.table(
            {
                "column": pa.array([column] * len(values), pa.string()),
                "value": pa.array(values, pa.string()),
                "count": pa.array(counts, pa.int64()),
            }
        )
        for column, (values, counts) in counted.items()
    ]
    return pa.concat_tables(parts) if parts else TERMS.empty_table()


def resolution_meta(
    mapping: LinkMapping,
    max_block: int,
    timings: dict[str, float],
    chinese_id: dict[str, bool],
    terms: dict[str, TermFrequencies],
) -> dict[str, Any]:
    """What a saved state says of its resolution, beside the model: enough for ``explain``
    and for an incremental record to be prepared, blocked and scored alike."""
    return {
        "mapping": mapping.to_dict(),
        "max_block": max_block,
        "timings": timings,
        "chinese_id": chinese_id,
        "terms": {c: {"total": tf.total, "mean": tf.mean} for c, tf in terms.items()},
    }


def persons_of(
    store: StateStore,
    record_id: np.ndarray,
    labels: np.ndarray,
    band: np.ndarray,
    prob: np.ndarray,
    saved: Callable[[], SavedParts] | None,
) -> pa.Table:
    """Stable person IDs for clusters ``labels`` against the saved state; with ``saved``,
    the new state is saved too. Every engine's resolution ends here."""
    previous = store.load(with_records=False)
    run = (previous.run if previous else 0) + 1
    assignment = assign_person_ids(
        record_id,
        labels,
        previous.persons if previous else None,
        previous.next_person if previous else 1,
        run,
    )
    table = pa.table(
        {
            "record_id": pa.array(record_id, pa.string()),
            "person_id": pa.array(assignment.person_id, pa.string()),
            "band": pa.array(band, pa.string()),
            "match_probability": pa.array(prob, pa.float64()),
        },
        schema=PERSONS_SCHEMA,
    )
    if saved is not None:
        parts = saved()
        events = assignment.events
        if previous is not None:
            events = pa.concat_tables([previous.events, events])
        store.save(
            Snapshot(
                persons=table,
                events=events,
                records=parts.records,
                decisions=parts.decisions,
                terms=parts.terms,
                model=parts.model,
                meta={"run": run, "next_person": assignment.next_person, **parts.meta},
            )
        )
    return table


class LinkerReview:
    """Reviewer decisions: persisted, audited (who, when, why), honoured by every run."""

    def __init__(self, linker: Linker):
        self._linker = linker

    def force_link(self, record_a: str, record_b: str, who: str, why: str) -> None:
        self._linker.store.add_override("link", record_a, record_b, who, why)

    def force_apart(self, record_a: str, record_b: str, who: str, why: str) -> None:
        self._linker.store.add_override("apart", record_a, record_b, who, why)

    def decisions(self) -> pa.Table:
        return self._linker.store.overrides()


class LinkerExplanations:
    def __init__(self, linker: Linker):
        self._linker = linker

    def explain(self, record_a: str, record_b: str) -> Explanation:
        lk = self._linker
        for r in (record_a, record_b):
            if r not in lk.index_of:
                raise KeyError(f"record {r!r} is not among the linked records")
        return explain_pair(
            lk.model,
            lk.frame,
            lk.index_of[record_a],
            lk.frame,
            lk.index_of[record_b],
            lk.term_frequencies(),
        )


class Linker:
    """Resolve records of one mapped table into persons; see the module docstring."""

    def __init__(
        self,
        table: pa.Table,
        mapping: MappingLike,
        *,
        state_dir: str | Path | None = None,
        max_block: int = DEFAULT_MAX_BLOCK,
        comparisons: list[Comparison] | None = None,
        rules: list[BlockingRule] | None = None,
    ):
        self.timings: dict[str, float] = {}
        t0 = time.perf_counter()
        self.mapping = LinkMapping.from_path_or_dict(mapping)
        self.frame: Frame = prepare(table, self.mapping)
        self.timings["prepare"] = time.perf_counter() - t0
        self.comparisons = comparisons or comparisons_for(self.frame)
        self.rules = rules or default_rules(self.frame)
        self.model = FellegiSunterModel.untrained(self.comparisons)
        self.max_block = max_block
        self.policy = GuardPolicy.load()
        self.store = StateStore(state_dir)
        self._tf: dict[str, TermFrequencies] | None = None
        self._index: dict[str, int] | None = None
        self.training = LinkerTraining(self)
        self.inference = LinkerInference(self)
        self.clustering = LinkerClustering(self)
        self.review = LinkerReview(self)
        self.explanations = LinkerExplanations(self)

    @classmethod
    def clustering_of(
        cls,
        frame: Frame,
        policy: GuardPolicy,
        model: FellegiSunterModel | None = None,
    ) -> LinkerClustering:
        """The clustering's reading of an already prepared frame (one new record, or a
        share of a city's components on another engine's worker)."""
        linker = cls.__new__(cls)
        linker.frame = frame
        linker.policy = policy
        if model is not None:
            linker.model = model
        linker._index = None
        return LinkerClustering(linker)

    @classmethod
    def from_state(cls, state_dir: str | Path | None = None) -> Linker:
        """The linker of the last saved run (records, mapping and trained model)."""
        store = StateStore(state_dir)
        snap = store.load()
        if snap is None or snap.records is None:
            raise FileNotFoundError(f"no linkage state under {store.path}")
        linker = cls(
            snap.records,
            snap.meta["mapping"],
            state_dir=store.path,
            max_block=int(snap.meta.get("max_block", DEFAULT_MAX_BLOCK)),
        )
        linker.model.load_parameters(snap.model)
        linker.persons = snap.persons
        return linker

    persons: pa.Table | None = None

    # ------------------------------------------------------------ helpers

    @property
    def index_of(self) -> dict[str, int]:
        if self._index is None:
            self._index = {r: i for i, r in enumerate(self.frame.record_id.tolist())}
        return self._index

    def context(self, li: np.ndarray, ri: np.ndarray) -> PairContext:
        return PairContext(self.frame, self.frame, li, ri)

    def term_frequencies(self) -> dict[str, TermFrequencies]:
        if self._tf is None:
            cols = {lv.tf_column for c in self.comparisons for lv in c.levels if lv.tf_column}
            self._tf = {c: TermFrequencies.of(self.frame, c) for c in sorted(cols)}
        return self._tf

    def terms_table(self) -> pa.Table:
        """column, value, count for every term-frequency column (saved with the state)."""
        return terms_table(
            {
                c: (self.frame.col(c).uniques, self.frame.col(c).counts())
                for c in self.term_frequencies()
            }
        )

    def records_table(self) -> pa.Table:
        cols = [self.mapping.record_id]
        if self.mapping.source:
            cols.append(self.mapping.source)
        cols += [c for c in self.mapping.fields if c not in cols]
        return self.frame.raw.select(cols)

    # ------------------------------------------------------------ the run

    def resolve(self, save: bool = True) -> pa.Table:
        """Train, predict, cluster, assign stable person IDs, save the state.

        Returns one row per input record: record_id, person_id, band, match_probability.
        """
        t = time.perf_counter()
        # u (random pairs) and the blocked pairs' levels need only the frame: on two cores
        # one's single-threaded stretches run beside the other's
        with ThreadPoolExecutor(max_workers=1) as pool:
            blocked = pool.submit(self._timed, "block_and_compare", self.inference.candidate_gamma)
            self._timed("estimate_u", self.training.estimate_u)
            blocked.result()
        t = time.perf_counter()
        self.training.estimate_m_and_prior()
        self.timings["em"] = time.perf_counter() - t
        t = time.perf_counter()
        predictions = self.inference.predict()
        self.timings["predict"] = time.perf_counter() - t
        t = time.perf_counter()
        self.persons = self.clustering.persons(predictions, save=save)
        self.timings["cluster_and_save"] = time.perf_counter() - t
        self.timings["pairs"] = float(len(predictions))
        return self.persons

    def _timed(self, stage: str, work: Callable[[], object]) -> None:
        t = time.perf_counter()
        work()
        self.timings[stage] = time.perf_counter() - t


def resolve(table: pa.Table, mapping: MappingLike, state_dir: str | Path | None = None) -> pa.Table:
    """Resolve ``table`` into persons; returns record_id, person_id, band, match_probability.

    Person IDs stay stable across runs against the same ``state_dir`` (default
    ``get_settings().data_dir / "linkage"``); reviewer decisions saved there are honoured.
    """
    linker = Linker(table, mapping, state_dir=state_dir)
    persons = linker.resolve()
    # the linker and its components refer to each other: without a collection their
    # frame and candidate pairs (GiBs at city scale) would outlive this call
    del linker
    gc.collect()
    return persons


def explain(record_a: str, record_b: str, state_dir: str | Path | None = None) -> Explanation:
    """Why records ``record_a`` and ``record_b`` do or don't match, from the saved state.

    Reads the saved model, the two records and the frequencies of their values only, and
    prepares just those two records (a city's state is explained in well under a second).
    """
    store = StateStore(state_dir)
    saved = store.meta_and_model()
    if saved is None:
        raise FileNotFoundError(f"no linkage state under {store.path}")
    meta, model_dict = saved
    if "terms" not in meta:  # a state saved before the term counts were
        return Linker.from_state(state_dir).explanations.explain(record_a, record_b)
    mapping = LinkMapping.from_dict(meta["mapping"])
    records = store.rows("records", mapping.record_id, [record_a, record_b])
    found = {} if records is None else {str(r[mapping.record_id]): r for r in records.to_pylist()}
    for r in (record_a, record_b):
        if r not in found:
            raise KeyError(f"record {r!r} is not among the linked records")
    frames = [prepare_one(found[r], mapping, meta["chinese_id"]) for r in (record_a, record_b)]
    model = FellegiSunterModel.untrained(comparisons_for(frames[0]))
    model.load_parameters(model_dict)
    right = frames[1]
    tf = {}
    for c, figures in meta["terms"].items():
        value = right.col(c).uniques.tolist()
        counts = store.rows("terms", "value", value) if value else None
        hit = [] if counts is None else [r for r in counts.to_pylist() if r["column"] == c]
        tf[c] = TermFrequencies.from_count(
            hit[0]["count"] if hit else 0, figures["total"], figures["mean"], len(value)
        )
    out = explain_pair(model, frames[0], 0, right, 0, tf)
    decisions = store.rows("decisions", "record_a", [record_a, record_b])
    if decisions is not None:
        out.guard = [
            f"{d['record_a']} / {d['record_b']}: {d['detail']}"
            for d in decisions.to_pylist()
            if {d["record_a"], d["record_b"]} & {record_a, record_b}
            and (d["rule"] == NO_MARGIN or {d["record_a"], d["record_b"]} == {record_a, record_b})
        ]
    return out
