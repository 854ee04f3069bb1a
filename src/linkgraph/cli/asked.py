"""Who asks on the command line, and the audit entry each lookup leaves.

The command line masks ID numbers, phones and bank accounts as the API does for a
role that does not need them, unless a purpose is stated (``--purpose``); either way
the lookup is written to the API's audit log, under the operating-system user's name.
"""

from __future__ import annotations

import getpass
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from linkgraph.service.caller import Caller

PurposeOpt = Annotated[
    str | None,
    typer.Option(
        "--purpose",
        help="Why ID numbers, phones and accounts are needed: shows them whole"
        " (kept in the audit log with your user name).",
    ),
]

#: The purpose written for a lookup that stated none (its identifiers stay masked).
NO_PURPOSE = "command-line lookup"


def cli_caller(purpose: str | None) -> Caller:
    """The operating-system user, as an investigator of the whole city."""
    from linkgraph.service.caller import Caller
    from linkgraph.service.keys import Principal, Role, Scope

    user = getpass.getuser()
    stated = (purpose or "").strip()[:200]
    principal = Principal(f"cli:{user}", user, Role.INVESTIGATOR, Scope("city"))
    return Caller(principal, stated or NO_PURPOSE, purpose_stated=bool(stated))


def audit(caller: Caller, action: str, subjects: Iterable[str], **detail: Any) -> None:
    """Write the lookup to the API's audit log (on disk before the answer is printed)."""
    from linkgraph.config import get_settings
    from linkgraph.service.audit import AuditLog
    from linkgraph.service.settings import ApiSettings

    state = ApiSettings().resolved_state_dir(get_settings())
    log = AuditLog(state / "audit.jsonl")
    try:
        log.write(caller.entry(action, subjects, via="command line", **detail))
    finally:
        log.close()
