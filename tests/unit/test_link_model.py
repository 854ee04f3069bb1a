"""The model's arithmetic: explanations add up, rarer names count more, levels compose."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from link_city import MAPPING, build_city
from rapidfuzz.distance import OSA, Levenshtein

from linkgraph.link import Linker
from linkgraph.link.comparisons import Comparison
from linkgraph.link.frame import Column
from linkgraph.link.levels import (
    And,
    ElseLevel,
    ExactLevel,
    Not,
    NullLevel,
    Or,
    PairContext,
    SimilarityLevel,
    bag_distance,
)
from linkgraph.link.mapping import LinkMapping
from linkgraph.link.model import _combine_prior_and_bfs


@pytest.fixture(scope="module")
def linker(tmp_path_factory: pytest.TempPathFactory) -> Linker:
    city = build_city(persons=300, seed=5)
    lk = Linker(city.table(), MAPPING, state_dir=tmp_path_factory.mktemp("state"))
    lk.resolve()
    return lk


def test_combine_prior_and_bfs_is_bayes_rule() -> None:
    score, prob = _combine_prior_and_bfs(math.log2(0.01 / 0.99), np.array([[3.0, -1.0]]))
    odds = 0.01 / 0.99 * 2**2
    assert prob[0] == pytest.approx(odds / (1 + odds))
    assert score[0] == pytest.approx(math.log2(odds))


def test_explanations_sum_exactly_to_the_score(linker: Linker) -> None:
    p = linker.inference.predict()
    rid = linker.frame.record_id
    for k in np.linspace(0, len(p) - 1, 25).astype(int):
        e = linker.explanations.explain(rid[p.left[k]], rid[p.right[k]])
        assert e.score == pytest.approx(
            e.prior_weight + sum(f.weight + f.tf_adjustment for f in e.fields)
        )
        assert e.score == pytest.approx(p.score[k], abs=1e-9)
        assert e.match_probability == pytest.approx(p.probability[k], abs=1e-12)
        missing = [f for f in e.fields if f.left is None or f.right is None]
        assert all(f.weight == 0 for f in missing)


def test_agreeing_on_a_common_name_counts_less_than_on_a_rare_one(tmp_path: Path) -> None:
    names = (
        ["王秀英"] * 40
        + ["欧阳淑琴", "欧阳淑琴"]
        + ["王秀英"]
        + [f"张{c}" for c in "一二三四五六七八九十"]
    )
    table = pa.table(
        {
            "rid": [f"r{i}" for i in range(len(names))],
            "nm": names,
            "dob": [f"19{40 + i % 30}-01-0{1 + i % 9}" for i in range(len(names))],
        }
    )
    lk = Linker(
        table, {"record_id": "rid", "fields": {"nm": "name", "dob": "date"}}, state_dir=tmp_path
    )
    lk.resolve()
    common = lk.explanations.explain("r0", "r1").fields[0]
    rare = lk.explanations.explain("r40", "r41").fields[0]
    assert common.level == rare.level
    assert rare.weight + rare.tf_adjustment > common.weight + common.tf_adjustment


def test_levels_compose_with_and_or_not(linker: Linker) -> None:
    frame = linker.frame
    li, ri = np.arange(0, 40), np.arange(1, 41)
    ctx = PairContext(frame, frame, li, ri)
    exact = ExactLevel("name")
    close = SimilarityLevel("name__py", "jaro_winkler", 0.8)
    both = And(close, Not(exact)).matches(ctx)
    either = Or(exact, close).matches(ctx)
    e, c = exact.matches(ctx), close.matches(ctx)
    assert (both == (c & ~e)).all()
    assert (either == (e | c)).all()
    comp = Comparison("name", [NullLevel("name"), exact, close, ElseLevel()])
    levels = comp.evaluate(ctx)
    assert ((levels == 1) == (e & ~ctx.null("name"))).all()


def test_a_bad_scorer_is_named() -> None:
    with pytest.raises(ValueError, match="scorer 'soundex'"):
        SimilarityLevel("name", "soundex", 0.9)


def test_trained_m_and_u_are_distributions(linker: Linker) -> None:
    for c, m, u in zip(linker.comparisons, linker.model.m, linker.model.u, strict=True):
        live = ~c.null_levels
        assert m[live].sum() == pytest.approx(1.0)
        assert u[live].sum() == pytest.approx(1.0)
    assert 0 < linker.model.prior < 0.5


def test_mapping_errors_name_the_field(tmp_path: Path) -> None:
    from linkgraph.link import MappingError

    with pytest.raises(MappingError, match=r"field 'dob'.*unknown kind 'birthday'"):
        LinkMapping.from_dict({"record_id": "rid", "fields": {"dob": "birthday"}})
    m = LinkMapping.from_dict({"record_id": "rid", "fields": {"surname": "name"}})
    with pytest.raises(MappingError, match=r"field 'fields\.surname'"):
        m.check_columns(["rid", "given_name"])
    with pytest.raises(MappingError, match="field 'record_id'"):
        LinkMapping.from_dict({"fields": {"surname": "name"}})


_TEXT = st.text(alphabet="0123456789X@pq王秀英三组", max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(_TEXT, _TEXT), min_size=1, max_size=30))
def test_bag_distance_never_exceeds_an_edit_distance(pairs: list[tuple[str, str]]) -> None:
    """The bound that lets distance and similarity levels skip scoring a pair: never
    more than the pair's OSA or Levenshtein distance (in characters, Han included), so
    no pair is ruled out that a level would hold."""
    left = Column.from_array(pa.array([a or "-" for a, _ in pairs]))
    right = Column.from_array(pa.array([b or "-" for _, b in pairs]))
    bound, longer = bag_distance(left, left.codes, right, right.codes)
    for k, (a, b) in enumerate(pairs):
        a, b = a or "-", b or "-"
        assert bound[k] <= OSA.distance(a, b)
        assert bound[k] <= Levenshtein.distance(a, b)
        assert longer[k] == max(len(a), len(b))
        assert 1 - bound[k] / longer[k] >= Levenshtein.normalized_similarity(a, b) - 1e-9
    disjoint_digits = [
        k for k, (a, b) in enumerate(pairs) if a.isdigit() and b.isdigit() and not set(a) & set(b)
    ]
    for k in disjoint_digits:  # nothing in common: the bound is the distance itself
        assert bound[k] == max(len(pairs[k][0]), len(pairs[k][1]))
