"""Comparisons: one per field, an ordered list of levels (first hit wins).

Built only from the levels in :mod:`linkgraph.link.levels`, so no comparison keeps
its own copy of the logic.  ``COMPARISON_FOR_KIND`` maps a mapping's field kind to
its default comparison.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from linkgraph.link.frame import BODY, PINYIN, SEX, STATUS, Frame
from linkgraph.link.levels import (
    And,
    ComparisonLevel,
    DistanceLevel,
    ElseLevel,
    ExactLevel,
    Not,
    NullLevel,
    Or,
    PairContext,
    SimilarityLevel,
    ValueLevel,
)


@dataclass
class Comparison:
    """A field's agreement levels, in order; level 0 is the null level."""

    name: str
    levels: list[ComparisonLevel]

    def evaluate(self, ctx: PairContext) -> np.ndarray:
        """Level index per pair (int8): the first level that holds."""
        out = np.full(len(ctx), len(self.levels) - 1, dtype=np.int8)
        remaining = np.ones(len(ctx), dtype=bool)
        for i, level in enumerate(self.levels):
            if not remaining.any():
                break
            hit = level.matches(ctx, remaining) & remaining
            out[hit] = i
            remaining &= ~hit
        return out

    @property
    def labels(self) -> list[str]:
        return [lv.label for lv in self.levels]

    @property
    def null_levels(self) -> np.ndarray:
        return np.array([lv.is_null for lv in self.levels], dtype=bool)


def NationalIdComparison(col: str, chinese: bool) -> Comparison:
    """Identity numbers: exact, one typo (wrong character / adjacent swap), ..., else.

    Chinese resident IDs (GB 11643-1999) are compared on their 17-digit body, so a
    legacy 15-digit number with one wrong digit, whose check character was computed
    on upgrade, is still one typo away.  Two *different checksum-valid* numbers are a
    level of their own: ISO 7064 MOD 11-2 catches every single wrong digit and adjacent
    swap, so such a pair is almost surely two people.  There is no "two edits" level:
    relatives born the same day in the same place (twins) hold numbers that differ
    only in the 3-digit sequence, two or three edits apart.
    """
    if chinese:
        body = col + BODY
        return Comparison(
            col,
            [
                NullLevel(col),
                ExactLevel(col, label=f"{col} exact"),
                DistanceLevel(body, "osa_distance", 1, label=f"{col} one digit wrong or swapped"),
                ValueLevel(col + STATUS, "valid", label=f"{col} both checksum-valid, different"),
                ValueLevel(
                    col + STATUS,
                    ("valid", "repaired"),
                    label=f"{col} both well-formed, two or more digits apart",
                ),
                ElseLevel(),
            ],
        )
    return Comparison(
        col,
        [
            NullLevel(col),
            ExactLevel(col, label=f"{col} exact"),
            DistanceLevel(col, "osa_distance", 1, label=f"{col} one character wrong or swapped"),
            DistanceLevel(col, "levenshtein_distance", 2, label=f"{col} two edits"),
            ElseLevel(),
        ],
    )


def IdSexComparison(col: str) -> Comparison:
    """The sex a resident ID's 17th digit encodes (GB 11643-1999: odd = male), so a
    record without a recorded gender still shows it."""
    sex = col + SEX
    return Comparison(
        sex,
        [NullLevel(sex), ExactLevel(sex, label=f"{col} sex digit agrees"), ElseLevel()],
    )


def NameComparison(col: str, thresholds: tuple[float, ...] = (0.92, 0.80)) -> Comparison:
    """Names: exact (tf), same pinyin (homophones, traditional forms; tf), Jaro-Winkler
    on pinyin at each threshold, else."""
    py = col + PINYIN
    levels: list[ComparisonLevel] = [
        NullLevel(col),
        ExactLevel(col, tf=True, label=f"{col} exact"),
        ExactLevel(py, tf=True, label=f"{col} same pinyin"),
    ]
    levels += [
        SimilarityLevel(py, "jaro_winkler", t, label=f"{col} pinyin jaro-winkler >= {t}")
        for t in thresholds
    ]
    levels.append(ElseLevel())
    return Comparison(col, levels)


def DateComparison(col: str) -> Comparison:
    """Dates as YYYYMMDD: exact, one digit wrong or swapped, else."""
    return Comparison(
        col,
        [
            NullLevel(col),
            ExactLevel(col, label=f"{col} exact"),
            DistanceLevel(col, "osa_distance", 1, label=f"{col} one digit wrong or swapped"),
            DistanceLevel(col, "levenshtein_distance", 2, label=f"{col} two edits"),
            ElseLevel(),
        ],
    )


def PhoneComparison(col: str) -> Comparison:
    return Comparison(
        col,
        [
            NullLevel(col),
            ExactLevel(col, label=f"{col} exact"),
            DistanceLevel(col, "osa_distance", 1, label=f"{col} one digit wrong or swapped"),
            ElseLevel(),
        ],
    )


def AddressComparison(col: str, thresholds: tuple[float, ...] = (0.9, 0.7)) -> Comparison:
    levels: list[ComparisonLevel] = [NullLevel(col), ExactLevel(col, label=f"{col} exact")]
    levels += [
        SimilarityLevel(col, "levenshtein", t, label=f"{col} similarity >= {t}") for t in thresholds
    ]
    levels.append(ElseLevel())
    return Comparison(col, levels)


def TextComparison(col: str, thresholds: tuple[float, ...] = (0.9,)) -> Comparison:
    levels: list[ComparisonLevel] = [NullLevel(col), ExactLevel(col, tf=True)]
    levels += [
        SimilarityLevel(col, "jaro_winkler", t, label=f"{col} jaro-winkler >= {t}")
        for t in thresholds
    ]
    levels.append(ElseLevel())
    return Comparison(col, levels)


def CategoryComparison(col: str) -> Comparison:
    return Comparison(col, [NullLevel(col), ExactLevel(col, tf=True), ElseLevel()])


COMPARISON_FOR_KIND: dict[str, Callable[[str], Comparison]] = {
    "name": NameComparison,
    "date": DateComparison,
    "phone": PhoneComparison,
    "address": AddressComparison,
    "text": TextComparison,
    "category": CategoryComparison,
}


def comparisons_for(frame: Frame) -> list[Comparison]:
    """Default comparisons for every mapped field of a prepared frame."""
    out = []
    for col, kind in frame.kinds.items():
        if kind == "national_id":
            chinese = frame.chinese_id.get(col, False)
            out.append(NationalIdComparison(col, chinese))
            if chinese:
                out.append(IdSexComparison(col))
        else:
            out.append(COMPARISON_FOR_KIND[kind](col))
    return out


__all__ = [
    "COMPARISON_FOR_KIND",
    "And",
    "Comparison",
    "Not",
    "Or",
    "comparisons_for",
]
