"""Clustering match edges into persons, with guard rails.

1. Connected components of the match edges (union-find in numpy, no per-row loop).
2. Components that break a rule are rebuilt edge by edge, strongest first, refusing
   any merge that would put together two different checksum-valid 18-digit resident
   IDs (GB 11643-1999) or two records a reviewer forced apart.  A reviewer's forced
   link is applied last (after 3), to the persons so found: it overrides the ID rule
   and joins both records' persons whole (no record of either is left behind).
3. A cluster held together only through one weak edge (a bridge under
   :data:`STRONG_EDGE` with at least two records on each side) is cut there rather
   than chained.

Complexity: O(E log E) for the numpy pass; the Python pass touches only the
components that need it.
"""

from __future__ import annotations

from collections.abc import Iterable

import networkx as nx
import numpy as np

STRONG_EDGE = 0.99
FORCED = 2.0  # probability given to a reviewer's forced link


def connected_labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Component label (smallest member index) per node, by min-label propagation.

    >>> connected_labels(5, np.array([0, 3]), np.array([1, 4])).tolist()
    [0, 0, 2, 3, 3]
    """
    labels = np.arange(n, dtype=np.int64)
    if len(a) == 0:
        return labels
    while True:
        low = np.minimum(labels[a], labels[b])
        before = labels.copy()
        np.minimum.at(labels, a, low)
        np.minimum.at(labels, b, low)
        # pointer jumping: follow labels to their own label until fixed
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(before, labels):
            return labels


class _Sets:
    """Union-find over a component's records, tracking valid IDs and forced-apart partners."""

    def __init__(self, ids: dict[int, int], apart: dict[int, set[int]]):
        self.parent: dict[int, int] = {}
        self.members: dict[int, set[int]] = {}
        self.ids = ids
        self.apart = apart

    def find(self, x: int) -> int:
        self.parent.setdefault(x, x)
        self.members.setdefault(x, {x})
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def conflict(self, ra: int, rb: int, forced: bool) -> bool:
        ma, mb = self.members[ra], self.members[rb]
        small, big = (ma, mb) if len(ma) <= len(mb) else (mb, ma)
        if any(self.apart.get(x, set()) & big for x in small):
            return True
        if forced:
            return False
        ida = {self.ids[x] for x in ma if x in self.ids}
        idb = {self.ids[x] for x in mb if x in self.ids}
        return bool(ida) and bool(idb) and ida != idb

    def union(self, ra: int, rb: int) -> None:
        if len(self.members[ra]) < len(self.members[rb]):
            ra, rb = rb, ra
        self.parent[rb] = ra
        self.members[ra] |= self.members.pop(rb)


def _split_weak_bridges(nodes: set[int], edges: list[tuple[int, int, float]]) -> list[set[int]]:
    """Cut weak bridges that have at least two records on each side, until none is left."""
    g = nx.Graph()
    g.add_nodes_from(nodes)
    for a, b, p in edges:
        if not g.has_edge(a, b) or g[a][b]["p"] < p:
            g.add_edge(a, b, p=p)
    examined: set[tuple[int, int]] = set()
    while True:
        cut = False
        for a, b in nx.bridges(g):
            if g[a][b]["p"] >= STRONG_EDGE or (a, b) in examined:
                continue
            p = g[a][b]["p"]
            g.remove_edge(a, b)
            side = len(nx.node_connected_component(g, a))
            whole = side + len(nx.node_connected_component(g, b))
            if side >= 2 and whole - side >= 2:
                cut = True
                break
            g.add_edge(a, b, p=p)
            examined.add((a, b))
        if not cut:
            return [set(c) for c in nx.connected_components(g)]


def cluster(
    n: int,
    a: np.ndarray,
    b: np.ndarray,
    prob: np.ndarray,
    valid_id: np.ndarray | None = None,
    apart: Iterable[tuple[int, int]] = (),
) -> np.ndarray:
    """Person label per record from match edges ``(a, b, prob)``.

    Parameters
    ----------
    n : number of records.
    a, b, prob : match edges (already at or above the match threshold); a forced
        link has ``prob >= FORCED``.
    valid_id : per record, an integer code of its checksum-valid resident ID, -1 if none.
    apart : record index pairs a reviewer forced apart.

    Returns
    -------
    labels : int64 array, records of one person share a label (its smallest index).
    """
    apart = list(apart)
    labels = connected_labels(n, a, b)
    if len(a) == 0:
        return labels
    sizes = np.bincount(labels, minlength=n)
    suspect = np.zeros(n, dtype=bool)  # by label
    if valid_id is not None:
        has = valid_id >= 0
        lab, vid = labels[has], valid_id[has]
        pairs = np.unique(np.stack([lab, vid], axis=1), axis=0) if len(lab) else np.empty((0, 2))
        if len(pairs):
            distinct = np.bincount(pairs[:, 0].astype(np.int64), minlength=n)
            suspect |= distinct > 1
    for x, y in apart:
        if labels[x] == labels[y]:
            suspect[labels[x]] = True
    weak = prob < STRONG_EDGE
    suspect[labels[a[weak]][sizes[labels[a[weak]]] >= 4]] = True
    if not suspect.any():
        return labels
    edge_sel = np.flatnonzero(suspect[labels[a]])
    order = edge_sel[np.argsort(-prob[edge_sel], kind="stable")]
    ids: dict[int, int] = {}
    if valid_id is not None:
        nodes = np.flatnonzero(suspect[labels])
        ids = {int(i): int(v) for i, v in zip(nodes, valid_id[nodes], strict=True) if v >= 0}
    apart_map: dict[int, set[int]] = {}
    for x, y in apart:
        apart_map.setdefault(int(x), set()).add(int(y))
        apart_map.setdefault(int(y), set()).add(int(x))
    # The data's persons first: match edges, strongest first, under the guard rails ...
    sets = _Sets(ids, apart_map)
    kept: list[tuple[int, int, float]] = []
    forced: list[tuple[int, int]] = []
    for e in order.tolist():
        x, y, p = int(a[e]), int(b[e]), float(prob[e])
        if p >= FORCED:
            forced.append((x, y))
            continue
        rx, ry = sets.find(x), sets.find(y)
        if rx != ry:
            if sets.conflict(rx, ry, forced=False):
                continue
            sets.union(rx, ry)
        kept.append((x, y, p))
    for node in np.flatnonzero(suspect[labels]).tolist():
        labels[node] = node
    by_root: dict[int, set[int]] = {}
    for x in list(sets.parent):
        by_root.setdefault(sets.find(x), set()).add(x)
    edges_of: dict[int, list[tuple[int, int, float]]] = {}
    for e in kept:
        if sets.find(e[0]) == sets.find(e[1]):
            edges_of.setdefault(sets.find(e[0]), []).append(e)
    persons = _Sets(ids, apart_map)
    for root, members in by_root.items():
        groups = [members]
        inner = edges_of.get(root, [])
        if len(members) >= 4 and any(p < STRONG_EDGE for _, _, p in inner):
            groups = _split_weak_bridges(members, inner)
        for group in groups:
            first, *rest = group
            for x in rest:
                persons.union(persons.find(first), persons.find(x))
    # ... then a reviewer's forced link joins the two records' persons whole (unless a
    # forced apart stands between them).
    for x, y in forced:
        rx, ry = persons.find(x), persons.find(y)
        if rx != ry and not persons.conflict(rx, ry, forced=True):
            persons.union(rx, ry)
    for x in list(persons.parent):
        labels[x] = min(persons.members[persons.find(x)])
    return labels
