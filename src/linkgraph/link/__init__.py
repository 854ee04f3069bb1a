"""Record linkage: resolve roster records into persons with stable IDs.

Public API (what the pipeline calls)::

    resolve(table, mapping, state_dir=None) -> pa.Table
        # record_id, person_id, band, match_probability
    explain(record_a, record_b, state_dir=None) -> Explanation
    Resolver.from_state(state_dir).resolve_one(record: dict) -> Resolution
    Linker(table, mapping, state_dir=...)
        # façade: training, inference, clustering, review, explanations
"""

from linkgraph.link.evaluate import (
    LOOK_ALIKES,
    LookAlikeMerges,
    PairwiseScores,
    look_alike_merges,
    pairwise_scores,
)
from linkgraph.link.explain import Explanation, FieldEvidence
from linkgraph.link.incremental import Resolution, Resolver
from linkgraph.link.io import export_febrl4, read_table, read_tables
from linkgraph.link.linker import Linker, Predictions, explain, resolve
from linkgraph.link.mapping import FIELD_KINDS, LinkMapping, MappingError
from linkgraph.link.state import StateStore

__all__ = [
    "FIELD_KINDS",
    "LOOK_ALIKES",
    "Explanation",
    "FieldEvidence",
    "LinkMapping",
    "Linker",
    "LookAlikeMerges",
    "MappingError",
    "PairwiseScores",
    "Predictions",
    "Resolution",
    "Resolver",
    "StateStore",
    "explain",
    "export_febrl4",
    "look_alike_merges",
    "pairwise_scores",
    "read_table",
    "read_tables",
    "resolve",
]
