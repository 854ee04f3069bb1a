"""linkgraph's own exceptions: adapters translate driver errors into these.

LinkgraphError
├── CatalogueError        a seed file is malformed (names file, row, field)
├── InputError            a record of a feed or roster is malformed (names row, field)
└── StoreError            the graph store failed
    └── StoreUnavailable  the store cannot be reached; retry later
"""


class LinkgraphError(Exception):
    """Base of every error linkgraph raises on purpose."""


class CatalogueError(LinkgraphError):
    """A catalogue or policy file under seed/ is malformed."""


class InputError(LinkgraphError):
    """A record of an input file or request is malformed."""


class StoreError(LinkgraphError):
    """The graph store refused or failed an operation."""


class StoreUnavailable(StoreError):
    """The graph store cannot be reached; the operation may be retried."""
