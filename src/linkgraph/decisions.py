"""What people decide on a flag: plain vocabularies, kept apart from the rules that use
them (:mod:`linkgraph.flags`, :mod:`linkgraph.casework`) so that the command line can
offer them without loading the engines those rules run on."""

from __future__ import annotations

from typing import Literal, get_args

FlagStatus = Literal["open", "confirmed", "dismissed", "recovering", "recovered", "written_off"]
#: What a person decides on a flag: a status to move to, money recovered (``recovered``,
#: with the amount and how: ``cash`` or an ``offset`` against arrears the person is owed),
#: money that cannot be recovered (``written_off``, with the amount left), the amount at
#: risk set right (``corrected``, with the right amount), or ``reverse`` (undo the last
#: decision still in effect).
FlagDecision = Literal[
    "open", "confirmed", "dismissed", "recovered", "written_off", "corrected", "reverse"
]
DECISIONS: tuple[str, ...] = get_args(FlagDecision)
#: How money comes back on a ``recovered`` step: paid back, or kept from arrears owed.
RecoveryKind = Literal["cash", "offset"]
RECOVERY_KINDS: tuple[str, ...] = get_args(RecoveryKind)
#: Decisions that take an amount: recovered and written-off yuan, the corrected amount at risk.
WITH_AMOUNT = ("recovered", "written_off", "corrected")
