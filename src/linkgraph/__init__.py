"""linkgraph: resolve identities across benefit rosters, certify once, recognise everywhere."""

__version__ = "0.1.0"
