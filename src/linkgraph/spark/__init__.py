"""The batch job on Apache Spark (``pip install -e '.[spark]'``): the core's functions on
Spark's workers, never a second copy of the rules.

:mod:`linkgraph.spark.session` opens the session; :mod:`linkgraph.spark.link` resolves
identities; :mod:`linkgraph.spark.components` finds connected components.
"""
