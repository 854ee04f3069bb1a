"""What people decide on a flag: plain vocabularies, kept apart from the rules that use
them (:mod:`linkgraph.flags`, :mod:`linkgraph.casework`) so that the command line can
offer them without loading the engines those rules run on."""

from __future__ import annotations

from typing import Literal, get_args

FlagStatus = Literal["open", "confirmed", "dismissed", "recovering", "recovered"]
#: What a person decides on a flag: a status to move to, money recovered (``recovered``,
#: with the amount), or ``reverse`` (undo the last decision still in effect).
FlagDecision = Literal["open", "confirmed", "dismissed", "recovered", "reverse"]
DECISIONS: tuple[str, ...] = get_args(FlagDecision)
