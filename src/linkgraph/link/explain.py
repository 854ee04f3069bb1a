"""Why (and why not): per-field level, values, m, u and log2 Bayes factor for one pair.

The prior's log-odds plus every field's weight (term-frequency adjustment shown
separately) is the pair's score, and the probability is computed from that sum.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from linkgraph.link.frame import Frame
from linkgraph.link.levels import PairContext
from linkgraph.link.model import (
    M_FLOOR,
    U_FLOOR,
    FellegiSunterModel,
    TermFrequencies,
    _combine_prior_and_bfs,
    band_of,
)


@dataclass
class FieldEvidence:
    field: str
    level: str
    left: Any
    right: Any
    m: float
    u: float
    weight: float  # log2(m/u), 0 for a missing value
    tf_adjustment: float  # log2(mean frequency / this value's frequency), exact levels only

    @property
    def total(self) -> float:
        return self.weight + self.tf_adjustment


@dataclass
class Explanation:
    record_a: str
    record_b: str
    prior_weight: float
    fields: list[FieldEvidence] = field(default_factory=list)
    #: the clustering's guard rails that kept these records apart or sent one to review
    guard: list[str] = field(default_factory=list)

    @property
    def score(self) -> float:
        """log2 odds: prior weight plus every field's weight and adjustment."""
        return self.prior_weight + sum(f.total for f in self.fields)

    @property
    def match_probability(self) -> float:
        return float(1.0 / (1.0 + 2.0 ** (-self.score)))

    @property
    def band(self) -> str:
        return str(band_of(np.array([self.match_probability]))[0])

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_a": self.record_a,
            "record_b": self.record_b,
            "prior_weight": self.prior_weight,
            "fields": [f.__dict__ | {"total": f.total} for f in self.fields],
            "score": self.score,
            "match_probability": self.match_probability,
            "band": self.band,
            "guard": self.guard,
        }


def explain_pair(
    model: FellegiSunterModel,
    left: Frame,
    i: int,
    right: Frame,
    j: int,
    tf: dict[str, TermFrequencies],
) -> Explanation:
    """Evidence for records ``left[i]`` and ``right[j]``, field by field."""
    ctx = PairContext(left, right, np.array([i]), np.array([j]))
    gamma = model.gamma(ctx)
    bfs = model.bayes_factors(ctx, gamma, tf)
    base = model.level_weights()
    out = Explanation(str(left.record_id[i]), str(right.record_id[j]), model.log2_prior_odds)
    for k, c in enumerate(model.comparisons):
        lv = int(gamma[0, k])
        w = float(base[k][lv])
        out.fields.append(
            FieldEvidence(
                field=c.name,
                level=c.levels[lv].label,
                left=left.col(c.name).values[i].as_py(),
                right=right.col(c.name).values[j].as_py(),
                # a missing value is no evidence: shown as m = u = 1 (Bayes factor 1)
                m=1.0 if c.levels[lv].is_null else float(max(model.m[k][lv], M_FLOOR)),
                u=1.0 if c.levels[lv].is_null else float(max(model.u[k][lv], U_FLOOR)),
                weight=w,
                tf_adjustment=float(bfs[0, k] - w),
            )
        )
    # the bulk path and this one agree on the probability
    _, prob = _combine_prior_and_bfs(model.log2_prior_odds, bfs)
    assert abs(float(prob[0]) - out.match_probability) < 1e-9
    return out
