"""Clustering guard rails: valid IDs, reviewer's apart, weak bridges; components as sets."""

from __future__ import annotations

import networkx as nx
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from linkgraph.link.cluster import FORCED, cluster, connected_labels


def as_sets(labels: np.ndarray) -> set[frozenset[int]]:
    groups: dict[int, set[int]] = {}
    for i, label in enumerate(labels.tolist()):
        groups.setdefault(label, set()).add(i)
    return {frozenset(g) for g in groups.values()}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 19), st.integers(0, 19)), max_size=40))
def test_connected_labels_agree_with_networkx(edges: list[tuple[int, int]]) -> None:
    g = nx.Graph()
    g.add_nodes_from(range(20))
    g.add_edges_from(edges)
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    expected = {frozenset(c) for c in nx.connected_components(g)}
    assert as_sets(connected_labels(20, a, b)) == expected


def test_two_different_valid_ids_never_end_in_one_person() -> None:
    # 0 and 2 hold different valid IDs; 1 has none and matches both
    labels = cluster(
        3,
        np.array([0, 1]),
        np.array([1, 2]),
        np.array([0.999, 0.95]),
        valid_id=np.array([5, -1, 6]),
    )
    assert as_sets(labels) == {frozenset({0, 1}), frozenset({2})}


def test_a_forced_link_overrides_the_id_rule() -> None:
    labels = cluster(2, np.array([0]), np.array([1]), np.array([FORCED]), valid_id=np.array([5, 6]))
    assert as_sets(labels) == {frozenset({0, 1})}


def test_forced_apart_wins_over_a_strong_match() -> None:
    labels = cluster(
        3, np.array([0, 1]), np.array([1, 2]), np.array([0.9999, 0.95]), apart=[(0, 1)]
    )
    assert as_sets(labels) == {frozenset({0}), frozenset({1, 2})}


def test_two_groups_joined_by_one_weak_edge_are_split() -> None:
    a = np.array([0, 1, 0, 2, 3, 4, 3])
    b = np.array([1, 2, 2, 3, 4, 5, 5])
    p = np.array([0.999, 0.999, 0.999, 0.93, 0.999, 0.999, 0.999])
    assert as_sets(cluster(6, a, b, p)) == {frozenset({0, 1, 2}), frozenset({3, 4, 5})}


def test_a_single_weakly_attached_record_stays_with_its_person() -> None:
    a, b = np.array([0, 1, 2]), np.array([1, 2, 3])
    p = np.array([0.999, 0.999, 0.92])
    assert as_sets(cluster(4, a, b, p)) == {frozenset({0, 1, 2, 3})}


def test_a_forced_link_between_twins_moves_no_other_record_out_of_its_person() -> None:
    # Twin A: records 0 (no valid ID), 1, 2 (ID 5); twin B: records 3, 4 (ID 6).
    # A reviewer links 0 with 3: both persons become one, every record with them.
    a = np.array([0, 1, 4, 3, 0])
    b = np.array([1, 2, 3, 0, 2])
    prob = np.array([0.9999, 0.999, 0.999, FORCED, 0.999])
    ids = np.array([-1, 5, 5, 6, 6])
    assert as_sets(cluster(5, a, b, prob, valid_id=ids)) == {frozenset(range(5))}
    # Without the link the twins stay two persons, whole.
    natural = cluster(5, a[[0, 1, 2, 4]], b[[0, 1, 2, 4]], prob[[0, 1, 2, 4]], valid_id=ids)
    assert as_sets(natural) == {frozenset({0, 1, 2}), frozenset({3, 4})}
