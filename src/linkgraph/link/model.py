"""Fellegi-Sunter model: m and u per comparison level, a prior, and the arithmetic.

Levels describe, :class:`~linkgraph.link.levels.PairContext` evaluates, this module
holds m/u and turns levels into log2 Bayes factors.  All probability arithmetic is
in :func:`_combine_prior_and_bfs`.

Training uses no labels: u from random record pairs (exact levels from value
frequencies), m by EM over blocked pairs with u fixed (one session per training
rule, the rule's own fields left out), the prior from a session's expected
matches divided by the rule's recall measured on another session's matches.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from linkgraph.link.blocking import BlockingRule, random_pairs
from linkgraph.link.comparisons import Comparison
from linkgraph.link.frame import Frame
from linkgraph.link.levels import ExactLevel, PairContext

M_FLOOR = 1e-6
M_PSEUDO_COUNT = 1.0
U_FLOOR = 1e-9
MATCH_THRESHOLD = 0.9
REVIEW_THRESHOLD = 0.5


def _combine_prior_and_bfs(
    log2_prior_odds: float, log2_bfs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Add log2 Bayes factors (columns) to the prior log-odds; return (score, probability).

    score = log2(prior / (1 - prior)) + sum(log2 BF);  probability = 2^score / (1 + 2^score)
    """
    score = log2_prior_odds + np.sum(np.atleast_2d(log2_bfs), axis=1)
    probability = 1.0 / (1.0 + np.exp2(-np.clip(score, -1000.0, 1000.0)))
    return score, probability


def band_of(probability: np.ndarray) -> np.ndarray:
    """ "match" (>= 0.9), "review" (>= 0.5) or "non-match", fixed in advance."""
    return np.where(
        probability >= MATCH_THRESHOLD,
        "match",
        np.where(probability >= REVIEW_THRESHOLD, "review", "non-match"),
    )


def default_m(comparison: Comparison) -> np.ndarray:
    """Starting m: most matches agree exactly, fewer at each weaker level."""
    k = len(comparison.levels)
    m = np.zeros(k)
    live = np.flatnonzero(~comparison.null_levels)
    m[live] = 0.5 ** np.arange(len(live))
    m[live[0]] = 4.0 * m[live[0]]
    return m / m.sum()


@dataclass
class TermFrequencies:
    """Value frequencies of a column: p(v) and the mean agreement chance sum(p^2)."""

    p: np.ndarray
    mean: float
    total: float = 1.0

    @classmethod
    def of(cls, frame: Frame, col: str) -> TermFrequencies:
        return cls.from_counts(frame.col(col).counts())

    @classmethod
    def from_counts(cls, counts: np.ndarray) -> TermFrequencies:
        """From how many records hold each value, in the order the values first occur."""
        counts = np.asarray(counts).astype(np.float64)
        total = max(counts.sum(), 1.0)
        p = np.maximum(counts / total, 1.0 / total)
        return cls(p=p, mean=float(np.sum((counts / total) ** 2)) or 1.0 / total, total=total)

    @classmethod
    def from_count(cls, count: int, total: float, mean: float, values: int) -> TermFrequencies:
        """The frequencies for a one-record frame from the saved count of its value."""
        p = np.full(values, max(count / total, 1.0 / total))
        return cls(p=p, mean=mean, total=total)

    def adjustment(self, codes: np.ndarray) -> np.ndarray:
        """log2(mean / p(v)): positive for rare values, negative for common ones."""
        return np.log2(self.mean / self.p[codes])


@dataclass
class FellegiSunterModel:
    """m and u per comparison level plus the prior probability that two records match."""

    comparisons: list[Comparison]
    m: list[np.ndarray]
    u: list[np.ndarray]
    prior: float = 1e-4
    trained_on: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def untrained(cls, comparisons: list[Comparison]) -> FellegiSunterModel:
        m = [default_m(c) for c in comparisons]
        u = [
            np.where(c.null_levels, 0.0, 1.0 / max(1, (~c.null_levels).sum())) for c in comparisons
        ]
        return cls(comparisons, m, u)

    # -------------------------------------------------------------- weights

    def level_weights(self) -> list[np.ndarray]:
        """log2(m/u) per level; 0 for null levels."""
        out = []
        for c, m, u in zip(self.comparisons, self.m, self.u, strict=True):
            w = np.log2(np.maximum(m, M_FLOOR) / np.maximum(u, U_FLOOR))
            out.append(np.where(c.null_levels, 0.0, w))
        return out

    @property
    def log2_prior_odds(self) -> float:
        return float(np.log2(self.prior / (1.0 - self.prior)))

    def gamma(self, ctx: PairContext) -> np.ndarray:
        """Level index per pair and comparison, shape (pairs, comparisons), int8."""
        out = np.empty((len(ctx), len(self.comparisons)), dtype=np.int8)
        for k, c in enumerate(self.comparisons):
            out[:, k] = c.evaluate(ctx)
        return out

    def bayes_factors(
        self, ctx: PairContext, gamma: np.ndarray, tf: dict[str, TermFrequencies]
    ) -> np.ndarray:
        """log2 Bayes factor per pair and comparison, term-frequency adjustment included."""
        weights = self.level_weights()
        out = np.empty(gamma.shape, dtype=np.float64)
        for k, c in enumerate(self.comparisons):
            out[:, k] = weights[k][gamma[:, k]]
            for lv_index, level in enumerate(c.levels):
                if level.tf_column is None or level.tf_column not in tf:
                    continue
                hit = gamma[:, k] == lv_index
                if hit.any():
                    rc = ctx.codes(level.tf_column)[2][hit]
                    out[hit, k] += tf[level.tf_column].adjustment(rc)
        return out

    def predict(
        self, ctx: PairContext, tf: dict[str, TermFrequencies], gamma: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(gamma, score, probability) for the pairs of ``ctx``."""
        if gamma is None:
            gamma = self.gamma(ctx)
        bfs = self.bayes_factors(ctx, gamma, tf)
        score, prob = _combine_prior_and_bfs(self.log2_prior_odds, bfs)
        return gamma, score, prob

    # -------------------------------------------------------------- persistence

    def to_dict(self) -> dict[str, Any]:
        return {
            "prior": self.prior,
            "comparisons": [
                {
                    "name": c.name,
                    "levels": [
                        {"label": lv.label, "m": float(m), "u": float(u)}
                        for lv, m, u in zip(c.levels, self.m[k], self.u[k], strict=True)
                    ],
                }
                for k, c in enumerate(self.comparisons)
            ],
            "trained_on": self.trained_on,
        }

    def load_parameters(self, data: dict[str, Any]) -> None:
        """Take m, u and prior from :meth:`to_dict` output for the same comparisons."""
        by_name = {c["name"]: c for c in data["comparisons"]}
        for k, c in enumerate(self.comparisons):
            saved = by_name.get(c.name)
            if saved is None or len(saved["levels"]) != len(c.levels):
                raise ValueError(f"saved model has no matching comparison for field {c.name!r}")
            self.m[k] = np.array([lv["m"] for lv in saved["levels"]])
            self.u[k] = np.array([lv["u"] for lv in saved["levels"]])
        self.prior = float(data["prior"])
        self.trained_on = dict(data.get("trained_on", {}))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, indent=1)


# ------------------------------------------------------------------ training


def estimate_u(
    model: FellegiSunterModel, frame: Frame, sample: int = 400_000, seed: int = 0
) -> None:
    """u from random pairs; exact levels from value frequencies (sum of p^2)."""
    pairs = u_sample(len(frame), sample, seed)
    if pairs is None:
        return
    ctx = PairContext(frame, frame, *pairs)
    level_counts = [
        np.bincount(c.evaluate(ctx), minlength=len(c.levels)) for c in model.comparisons
    ]
    value_counts = {
        level.col: frame.col(level.col).counts()
        for c in model.comparisons
        for level in c.levels
        if isinstance(level, ExactLevel)
    }
    u_from_counts(model, level_counts, value_counts)


def u_sample(n: int, sample: int = 400_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray] | None:
    """The random record pairs u is estimated from (None under two records): the same
    pairs on every engine, so that both estimate the same u."""
    if n < 2:
        return None
    return random_pairs(n, int(min(sample, max(50 * n, 10_000))), seed)


def u_from_counts(
    model: FellegiSunterModel,
    level_counts: Sequence[np.ndarray],
    value_counts: dict[str, np.ndarray],
) -> None:
    """u per level from how many random pairs fell in each level (``level_counts``, per
    comparison) and, for exact levels, from how many records hold each value of the
    column (``value_counts``): the chance two random records agree, sum of p^2."""
    for k, c in enumerate(model.comparisons):
        counts = np.asarray(level_counts[k], dtype=np.float64).copy()
        counts[c.null_levels] = 0.0
        u = np.zeros(len(c.levels))
        fixed = np.zeros(len(c.levels), dtype=bool)
        for i, level in enumerate(c.levels):
            if isinstance(level, ExactLevel):
                cnt = np.asarray(value_counts[level.col], dtype=np.float64)
                tot = cnt.sum()
                p_eq = float((cnt * (cnt - 1)).sum() / max(tot * (tot - 1), 1.0))
                earlier = u[:i][~c.null_levels[:i]].sum()
                u[i] = max(p_eq - earlier, 1.0 / max(tot * tot, 1.0))
                fixed[i] = True
        rest = ~fixed & ~c.null_levels
        if rest.any():
            share = counts[rest] + 0.5
            u[rest] = (1.0 - u[fixed].sum()) * share / share.sum()
        model.u[k] = np.maximum(u, 0.0)


def _em(
    model: FellegiSunterModel,
    gamma: np.ndarray,
    active: list[int],
    iterations: int = 30,
    tol: float = 1e-5,
) -> tuple[list[np.ndarray], float, np.ndarray]:
    """EM over one session's pairs with u fixed; m estimated for ``active`` comparisons."""
    m = [x.copy() for x in model.m]
    lam = 0.3
    p = np.zeros(len(gamma))
    for _ in range(iterations):
        score = np.zeros(len(gamma))
        for k in active:
            c = model.comparisons[k]
            w = np.log(np.maximum(m[k], M_FLOOR) / np.maximum(model.u[k], U_FLOOR))
            w[c.null_levels] = 0.0
            score += w[gamma[:, k]]
        logit = np.log(lam / (1 - lam)) + score
        p = 1.0 / (1.0 + np.exp(-np.clip(logit, -700, 700)))
        new_lam = float(np.clip(p.mean(), 1e-6, 1 - 1e-6))
        delta = abs(new_lam - lam)
        lam = new_lam
        for k in active:
            c = model.comparisons[k]
            sums = np.bincount(gamma[:, k], weights=p, minlength=len(c.levels))
            sums[c.null_levels] = 0.0
            total = sums.sum()
            if total > 0:
                # one pseudo-count per level: a level unseen among a few matches is not impossible
                live = ~c.null_levels
                sums[live] += M_PSEUDO_COUNT
                total += M_PSEUDO_COUNT * live.sum()
                new_m = np.maximum(sums / total, M_FLOOR)
                new_m[c.null_levels] = 0.0
                delta = max(delta, float(np.abs(new_m - m[k]).max()))
                m[k] = new_m / new_m.sum()
        if delta < tol:
            break
    return m, lam, p


def train(
    model: FellegiSunterModel,
    gamma: np.ndarray,
    li: np.ndarray,
    ri: np.ndarray,
    rules: Sequence[BlockingRule],
    rule_keys: dict[str, np.ndarray],
    n_records: int,
    max_session_pairs: int = 2_000_000,
    seed: int = 0,
) -> None:
    """m by EM per training rule over the candidate pairs it blocks; then the prior."""
    names = [c.name for c in model.comparisons]
    rng = np.random.default_rng(seed)
    m_sum = [np.zeros_like(x) for x in model.m]
    m_weight = np.zeros(len(names))
    sessions: list[dict[str, Any]] = []
    for rule in rules:
        if not rule.train:
            continue
        key = rule_keys[rule.name]
        sel = np.flatnonzero((key[li] == key[ri]) & (key[li] >= 0))
        if len(sel) < 10:
            continue
        if len(sel) > max_session_pairs:
            sel = np.sort(rng.choice(sel, max_session_pairs, replace=False))
        active = [k for k, nm in enumerate(names) if nm not in rule.comparisons]
        m, lam, p = _em(model, gamma[sel], active)
        expected = float(p.sum())
        for k in active:
            m_sum[k] += m[k] * expected
            m_weight[k] += expected
        sessions.append({"rule": rule.name, "pairs": len(sel), "lambda": lam, "sel": sel, "p": p})
    for k in range(len(names)):
        if m_weight[k] > 0:
            model.m[k] = m_sum[k] / m_weight[k]
    # prior: expected matches in session R / recall of R, recall measured on session S's matches
    total_pairs = n_records * (n_records - 1) / 2
    estimates = []
    for r in sessions:
        key = rule_keys[r["rule"]]
        for s in sessions:
            if s is r:
                continue
            sl, sr = li[s["sel"]], ri[s["sel"]]
            agree = (key[sl] == key[sr]) & (key[sl] >= 0)
            recall = float((s["p"] * agree).sum() / max(s["p"].sum(), 1e-12))
            if recall > 0.05:
                estimates.append(r["lambda"] * r["pairs"] / recall / max(total_pairs, 1.0))
    if not estimates and sessions:
        best = max(sessions, key=lambda x: x["lambda"] * x["pairs"])
        estimates.append(best["lambda"] * best["pairs"] / max(total_pairs, 1.0))
    if estimates:
        model.prior = float(np.clip(np.exp(np.median(np.log(estimates))), 1e-12, 0.5))
    model.trained_on = {
        "records": n_records,
        "sessions": [
            {"rule": s["rule"], "pairs": s["pairs"], "lambda": s["lambda"]} for s in sessions
        ],
        "prior_estimates": estimates,
    }
