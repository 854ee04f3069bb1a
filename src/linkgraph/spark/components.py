"""Connected components on DataFrames: the large-star / small-star algorithm.

Kiveris, Lattanzi, Mirrokni, Rastogi and Vassilvitskii, "Connected Components in
MapReduce and Beyond" (SoCC 2014): alternate two star operations until the edge set
stops changing; every component is then a star around its smallest node, after
O(log² n) rounds (a few in practice) of joins and shuffles, whatever the diameter.

The label of a node is the smallest node of its component, as
:func:`linkgraph.link.cluster.connected_labels` gives it in process.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

MAX_ROUNDS = 100


def _large_star(edges: DataFrame) -> DataFrame:
    """Each node's larger neighbours are tied to the smallest node of its neighbourhood."""
    from pyspark.sql import functions as F

    both = edges.union(edges.select(F.col("v").alias("u"), F.col("u").alias("v")))
    low = both.groupBy("u").agg(F.least(F.min("v"), F.col("u")).alias("m"))
    return (
        both.join(low, "u")
        .where(F.col("v") > F.col("u"))
        .select(F.col("v").alias("u"), F.col("m").alias("v"))
        .distinct()
    )


def _small_star(edges: DataFrame) -> DataFrame:
    """Each node and its smaller neighbours are tied to the smallest of them
    (``edges`` point from the larger node ``u`` to the smaller ``v``)."""
    from pyspark.sql import functions as F

    low = edges.groupBy("u").agg(F.min("v").alias("m"))
    neighbours = (
        edges.join(low, "u")
        .where(F.col("v") != F.col("m"))
        .select(F.col("v").alias("u"), F.col("m").alias("v"))
    )
    return neighbours.union(low.select("u", F.col("m").alias("v"))).distinct()


def connected_components(edges: DataFrame, left: str = "l", right: str = "r") -> DataFrame:
    """``(node, component)`` for every node of an edge list; the component is its smallest node.

    Nodes without edges are not in the answer: each is a component alone.
    """
    from pyspark.sql import functions as F

    current = (
        edges.select(F.greatest(left, right).alias("u"), F.least(left, right).alias("v"))
        .where(F.col("u") != F.col("v"))
        .distinct()
        .localCheckpoint()
    )
    for _ in range(MAX_ROUNDS):
        following = _small_star(_large_star(current)).localCheckpoint()
        if following.count() == current.count() and following.exceptAll(current).isEmpty():
            current = following
            break
        current = following
    else:
        raise RuntimeError(f"connected components did not settle in {MAX_ROUNDS} rounds")
    roots = current.select(F.col("v").alias("node")).distinct()
    stars = current.select(F.col("u").alias("node"), F.col("v").alias("component"))
    return stars.unionByName(roots.select("node", F.col("node").alias("component"))).distinct()
