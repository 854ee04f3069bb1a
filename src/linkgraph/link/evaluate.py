"""Pairwise precision, recall and F1 of a clustering against ground truth, and how many
of the costly look-alike pairs (twins, household namesakes, couples) it made one person.

Pairs are counted from the contingency table of (true person, predicted person), so
no pair list is materialised: TP = sum over cells of C(n, 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


@dataclass(frozen=True)
class PairwiseScores:
    records: int
    true_pairs: int
    predicted_pairs: int
    true_positives: int

    @property
    def precision(self) -> float:
        return self.true_positives / self.predicted_pairs if self.predicted_pairs else 1.0

    @property
    def recall(self) -> float:
        return self.true_positives / self.true_pairs if self.true_pairs else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0


def _pairs(codes: np.ndarray) -> int:
    counts = np.unique(codes, return_counts=True, axis=0)[1].astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def pairwise_scores(
    truth: pa.Table, persons: pa.Table, truth_column: str = "person_id"
) -> PairwiseScores:
    """Score ``persons`` (record_id, person_id) against ``truth`` (record_id, ``truth_column``)."""
    for name, table, col in (("truth", truth, truth_column), ("persons", persons, "person_id")):
        for c in ("record_id", col):
            if c not in table.column_names:
                raise ValueError(f"{name}: column {c!r} missing (columns: {table.column_names})")
    pos = pc.index_in(
        persons.column("record_id").cast(pa.string()), truth.column("record_id").cast(pa.string())
    )
    pos_np = pos.fill_null(-1).to_numpy(zero_copy_only=False)
    keep = pos_np >= 0
    t = pc.dictionary_encode(truth.column(truth_column).cast(pa.string()).combine_chunks())
    t_codes = t.indices.to_numpy(zero_copy_only=False)[pos_np[keep]]
    p = pc.dictionary_encode(persons.column("person_id").cast(pa.string()).combine_chunks())
    p_codes = p.indices.to_numpy(zero_copy_only=False)[keep]
    both = np.stack([t_codes, p_codes], axis=1)
    return PairwiseScores(
        records=int(keep.sum()),
        true_pairs=_pairs(t_codes),
        predicted_pairs=_pairs(p_codes),
        true_positives=_pairs(both) if len(both) else 0,
    )


#: look-alike pairs in a generated city's truth/persons.parquet: kind -> the column naming
#: each person's counterpart
LOOK_ALIKES = {
    "twin": "twin_of",
    "household_namesake": "household_namesake_of",
    "same_name_neighbour": "namesake_of",
    "couple": "spouse_of",
}


@dataclass(frozen=True)
class LookAlikeMerges:
    """How many pairs of two different people of one kind share a resolved person."""

    kind: str
    pairs: int
    merged: int

    @property
    def rate(self) -> float:
        return self.merged / self.pairs if self.pairs else 0.0


def look_alike_merges(
    truth_persons: pa.Table, truth_records: pa.Table, persons: pa.Table
) -> dict[str, LookAlikeMerges]:
    """Per kind of :data:`LOOK_ALIKES`, the pairs whose records share a resolved person.

    ``truth_persons``: person_id and the counterpart columns; ``truth_records``:
    record_id, person_id; ``persons``: record_id, person_id as resolved.
    """
    from linkgraph.link.blocking import pairs_from_codes

    people = pc.unique(truth_persons.column("person_id").cast(pa.string()).combine_chunks())
    pos = pc.index_in(
        persons.column("record_id").cast(pa.string()),
        truth_records.column("record_id").cast(pa.string()),
    )
    keep = pos.fill_null(-1).to_numpy(zero_copy_only=False) >= 0
    true_of = pc.index_in(truth_records.column("person_id").cast(pa.string()), people).take(pos)
    t = true_of.to_numpy(zero_copy_only=False)[keep].astype(np.int64)
    got = pc.dictionary_encode(persons.column("person_id").cast(pa.string()).combine_chunks())
    g = got.indices.to_numpy(zero_copy_only=False)[keep].astype(np.int64)
    # distinct (resolved, true) cells; two cells of one resolved person join two people
    cells = np.unique(g * len(people) + t)
    left, right = pairs_from_codes(cells // len(people), max_block=len(cells) + 1)
    ta, tb = cells[left] % len(people), cells[right] % len(people)
    joined = np.minimum(ta, tb) * len(people) + np.maximum(ta, tb)
    out = {}
    for kind, column in LOOK_ALIKES.items():
        if column not in truth_persons.column_names:
            continue
        other = pc.index_in(truth_persons.column(column).cast(pa.string()), people)
        me = pc.index_in(truth_persons.column("person_id").cast(pa.string()), people)
        has = pc.is_valid(other).to_numpy(zero_copy_only=False)
        a = me.to_numpy(zero_copy_only=False)[has].astype(np.int64)
        b = other.to_numpy(zero_copy_only=False)[has].astype(np.int64)
        pair = np.unique(np.minimum(a, b) * len(people) + np.maximum(a, b))
        out[kind] = LookAlikeMerges(kind, len(pair), int(np.isin(pair, joined).sum()))
    return out
