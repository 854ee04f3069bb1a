"""Comparison levels: tiny classes that say, for aligned record pairs, whether a pair
falls in the level.  Each level describes itself; a :class:`PairContext` evaluates
columns for the pairs (exact agreement on integer codes, fuzzy scores with
rapidfuzz's batch ``cpdist`` on distinct value pairs only).

    NullLevel("name"), ExactLevel("name", tf=True),
    SimilarityLevel("name__py", "jaro_winkler", 0.92), ElseLevel()
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, final

import numpy as np
from rapidfuzz.distance import OSA, Indel, JaroWinkler, Levenshtein
from rapidfuzz.process import cpdist

from linkgraph.link.frame import Column, Frame, distinct_pairs

SCORERS: dict[str, Callable[..., Any]] = {
    "jaro_winkler": JaroWinkler.normalized_similarity,
    "levenshtein": Levenshtein.normalized_similarity,
    "indel": Indel.normalized_similarity,
    "levenshtein_distance": Levenshtein.distance,
    "osa_distance": OSA.distance,
}


def validate_scorer(scorer: str) -> str:
    if scorer not in SCORERS:
        raise ValueError(f"scorer {scorer!r}: allowed scorers are {', '.join(SCORERS)}")
    return scorer


class PairContext:
    """Aligned record pairs ``(left[li[k]], right[ri[k]])`` with per-column caches."""

    def __init__(
        self, left: Frame, right: Frame, li: np.ndarray, ri: np.ndarray, workers: int = -1
    ):
        self.left, self.right = left, right
        self.li, self.ri = li, ri
        self.workers = workers
        self._codes: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self._scores: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.li)

    def codes(self, col: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(left codes in left space, left codes in right space, right codes) per pair."""
        hit = self._codes.get(col)
        if hit is None:
            lcol, rcol = self.left.col(col), self.right.col(col)
            lc = lcol.codes[self.li]
            lc_in_r = lcol.translate(rcol)[self.li] if lcol is not rcol else lc
            hit = self._codes[col] = (lc, lc_in_r, rcol.codes[self.ri])
        return hit

    def null(self, col: str) -> np.ndarray:
        lc, _, rc = self.codes(col)
        return (lc < 0) | (rc < 0)

    def equal(self, col: str) -> np.ndarray:
        _, lr, rc = self.codes(col)
        return (lr == rc) & (rc >= 0)

    def values(self, col: str, side: str, value: str | tuple[str, ...]) -> np.ndarray:
        """Pairs whose ``side`` ("left"/"right"/"both") value in ``col`` is ``value``
        (or one of them)."""
        wanted = (value,) if isinstance(value, str) else value
        out = np.ones(len(self), dtype=bool)
        lc, _, rc = self.codes(col)
        for s in ("left", "right") if side == "both" else (side,):
            column = (self.left if s == "left" else self.right).col(col)
            codes = [column.index().get(v, -3) for v in wanted]
            out &= np.isin(lc if s == "left" else rc, codes)
        return out

    def score(
        self,
        col: str,
        scorer: str,
        where: np.ndarray,
        at_most: int | None = None,
        at_least: float | None = None,
    ) -> np.ndarray:
        """``scorer`` of the two values for pairs in ``where`` (nan elsewhere / null).

        ``at_most`` (an edit distance) or ``at_least`` (the Levenshtein similarity): only
        scores up to, or from, this value matter. A pair whose characters alone put it
        beyond (:func:`bag_distance`) is not scored: it gets inf (or -inf), and stays
        unscored for a later call that asks further.
        """
        key = (col, scorer)
        cached = self._scores.get(key)
        if cached is None:
            cached = (np.full(len(self), np.nan), np.zeros(len(self), dtype=bool))
            self._scores[key] = cached
        out, done = cached
        lc, _, rc = self.codes(col)
        todo = where & ~done & (lc >= 0) & (rc >= 0)
        far = np.empty(0, dtype=np.int64)
        if (at_most is not None or at_least is not None) and todo.any():
            idx = np.flatnonzero(todo)
            bound, longer = bag_distance(self.left.col(col), lc[idx], self.right.col(col), rc[idx])
            if at_most is not None:
                far = idx[bound > at_most]
                out[far] = np.inf
            else:  # similarity = 1 - distance / the longer length
                assert at_least is not None
                far = idx[bound > (1.0 - at_least) * longer + 1e-9]
                out[far] = -np.inf
            todo[far] = False
        if todo.any():
            idx = np.flatnonzero(todo)
            ua, ub, inv = distinct_pairs(lc[idx], rc[idx], len(self.right.col(col).uniques) + 1)
            sa = self.left.col(col).uniques[ua].tolist()
            sb = self.right.col(col).uniques[ub].tolist()
            workers = self.workers if len(sa) > 20_000 else 1  # threads cost ~1 ms to start
            scores = cpdist(sa, sb, scorer=SCORERS[scorer], workers=workers)
            out[idx] = np.asarray(scores, dtype=np.float64)[inv]
        done |= where
        done[far] = False
        return out


def bag_distance(
    left: Column, lc: np.ndarray, right: Column, rc: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A lower bound of the Levenshtein and OSA distances of each value pair (codes
    ``lc`` in ``left``, ``rc`` in ``right``), and the longer value's length: half of how
    many characters the two do not share, counted in 16 bins (an edit changes one bin's
    count on each side at most, a swap none), plus their length difference. Both 0
    where a value is over 255 characters.

    Random pairs of ID numbers or accounts lie many characters apart, addresses of two
    villages many of their characters: the bound rules them out without scoring them.
    """
    lbins, llen = left.char_bins()
    rbins, rlen = right.char_bins()
    a_len, b_len = llen[lc], rlen[rc]
    apart = np.abs(lbins[lc].astype(np.int16) - rbins[rc]).sum(axis=1, dtype=np.int32)
    bound = (apart + np.abs(a_len - b_len)) // 2
    longer = np.maximum(a_len, b_len)
    unknown = (a_len < 0) | (b_len < 0)
    bound[unknown], longer[unknown] = 0, 0
    return bound, longer


#: Scorers :func:`bag_distance` bounds: these edit distances from below, the Levenshtein
#: similarity from above.
BOUNDED_DISTANCES = ("levenshtein_distance", "osa_distance")
BOUNDED_SIMILARITIES = ("levenshtein",)


class ComparisonLevel(ABC):
    """One agreement level.  Subclasses fill in :meth:`_matches` and :meth:`_describe`."""

    is_null: bool = False
    #: column whose value frequencies adjust this level's weight (term frequency)
    tf_column: str | None = None

    @abstractmethod
    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        """Bool per pair; only needs to be right where ``where`` is true."""

    @abstractmethod
    def _describe(self) -> str:
        """A short human label."""

    @final
    def matches(self, ctx: PairContext, where: np.ndarray | None = None) -> np.ndarray:
        if where is None:
            where = np.ones(len(ctx), dtype=bool)
        return np.asarray(self._matches(ctx, where), dtype=bool)

    @final
    @property
    def label(self) -> str:
        text = self._describe()
        return f"{text} (tf-adjusted)" if self.tf_column else text

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.label}>"


class NullLevel(ComparisonLevel):
    """Either value is missing: no evidence either way (weight 0)."""

    is_null = True

    def __init__(self, col: str):
        self.col = col

    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        return ctx.null(self.col)

    def _describe(self) -> str:
        return f"{self.col} missing"


class ExactLevel(ComparisonLevel):
    """Normalised values are equal."""

    def __init__(self, col: str, tf: bool = False, label: str | None = None):
        self.col = col
        self.tf_column = col if tf else None
        self._label = label

    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        return ctx.equal(self.col)

    def _describe(self) -> str:
        return self._label or f"{self.col} exact"


class SimilarityLevel(ComparisonLevel):
    """Normalised similarity (0..1) at least ``threshold``."""

    def __init__(self, col: str, scorer: str, threshold: float, label: str | None = None):
        self.col, self.scorer, self.threshold = col, validate_scorer(scorer), threshold
        self._label = label

    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        bounded = self.scorer in BOUNDED_SIMILARITIES
        at_least = self.threshold if bounded else None
        return ctx.score(self.col, self.scorer, where, at_least=at_least) >= self.threshold

    def _describe(self) -> str:
        return self._label or f"{self.col} {self.scorer} >= {self.threshold}"


class DistanceLevel(ComparisonLevel):
    """Edit distance at most ``max_distance``."""

    def __init__(self, col: str, scorer: str, max_distance: int, label: str | None = None):
        self.col, self.scorer, self.max_distance = col, validate_scorer(scorer), max_distance
        self._label = label

    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        at_most = self.max_distance if self.scorer in BOUNDED_DISTANCES else None
        return ctx.score(self.col, self.scorer, where, at_most) <= self.max_distance

    def _describe(self) -> str:
        return self._label or f"{self.col} {self.scorer} <= {self.max_distance}"


class ValueLevel(ComparisonLevel):
    """Both (or one) side's value equals a given value, e.g. both IDs checksum-valid."""

    def __init__(
        self,
        col: str,
        value: str | tuple[str, ...],
        side: str = "both",
        label: str | None = None,
    ):
        self.col, self.value, self.side = col, value, side
        self._label = label

    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        return ctx.values(self.col, self.side, self.value)

    def _describe(self) -> str:
        return self._label or f"{self.side} {self.col} = {self.value}"


class ElseLevel(ComparisonLevel):
    """Everything not caught by an earlier level."""

    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        return np.ones(len(ctx), dtype=bool)

    def _describe(self) -> str:
        return "all other"


class And(ComparisonLevel):
    def __init__(self, *levels: ComparisonLevel, label: str | None = None):
        self.levels, self._label = levels, label

    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        out = where.copy()
        for level in self.levels:
            out &= level.matches(ctx, out)
        return out

    def _describe(self) -> str:
        return self._label or " and ".join(lv.label for lv in self.levels)


class Or(ComparisonLevel):
    def __init__(self, *levels: ComparisonLevel, label: str | None = None):
        self.levels, self._label = levels, label

    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        out = np.zeros(len(ctx), dtype=bool)
        for level in self.levels:
            out |= level.matches(ctx, where & ~out)
        return out

    def _describe(self) -> str:
        return self._label or " or ".join(lv.label for lv in self.levels)


class Not(ComparisonLevel):
    def __init__(self, level: ComparisonLevel):
        self.level = level

    def _matches(self, ctx: PairContext, where: np.ndarray) -> np.ndarray:
        return ~self.level.matches(ctx, where)

    def _describe(self) -> str:
        return f"not ({self.level.label})"
