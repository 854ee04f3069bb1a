"""Pairwise precision, recall and F1 of a clustering against ground truth.

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
