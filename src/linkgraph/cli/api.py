"""``linkgraph api``: serve the recognition and investigation API; manage its API keys.

linkgraph api serve --port 8000
linkgraph api keys create --role benefit_system --scope department:HRSS --name payroll
linkgraph api keys list
linkgraph api keys revoke <key-id>
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from linkgraph.config import REPO_ROOT, get_settings
from linkgraph.errors import InputError, LinkgraphError
from linkgraph.service.keys import SCOPE_KINDS, KeyStore, Role, Scope
from linkgraph.service.settings import ApiSettings

console = Console()
api_app = typer.Typer(help="The recognition and investigation API.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys: each maps to a role and a scope.", no_args_is_help=True)
api_app.add_typer(keys_app, name="keys")


_SCOPES = "; ".join(f"{r}: {', '.join(k)}" for r, k in SCOPE_KINDS.items())


def _check_in_catalogue(scope: Scope) -> None:
    """Refuse a department or channel the catalogue does not hold: its key could do nothing."""
    from linkgraph.catalogue import Catalogue

    catalogue = Catalogue(get_settings().catalogue_dir)
    codes = {"department": catalogue.department.keys(), "channel": catalogue.channel.keys()}
    known = codes.get(scope.kind)
    if known is not None and scope.value not in known:
        raise InputError(
            f"scope {scope}: no {scope.kind} {scope.value!r} in the catalogue"
            f" (known: {', '.join(sorted(known))})"
        )


def _keys() -> KeyStore:
    return KeyStore(ApiSettings().resolved_keys_file(get_settings()))


@api_app.command("serve")
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes (neo4j store).")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn's own log level.")] = "warning",
) -> None:
    """Run the API with uvicorn (JSON logs on stderr; /healthz, /readyz, /metrics, /docs)."""
    import uvicorn

    settings = get_settings()
    if workers > 1 and settings.backend == "embedded":
        console.print("[red]the embedded store is one DuckDB file: one worker only[/red]")
        raise typer.Exit(2)
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))  # api/ sits next to src/ in the repository
    uvicorn.run(
        "api.main:app",
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
        access_log=False,  # the app's own: LINKGRAPH_API_ACCESS_LOG
        app_dir=str(REPO_ROOT),
    )


@keys_app.command("create")
def create(
    role: Annotated[Role, typer.Option(help="What the key may do.")],
    scope: Annotated[
        str,
        typer.Option(
            help="city | department:<CODE> | channel:<CODE> | grid:<CODE> (" + _SCOPES + ")"
        ),
    ] = "city",
    name: Annotated[str, typer.Option(help="Who holds it (shown in the audit log).")] = "",
) -> None:
    """Create a key; it is printed once and only its hash is kept."""
    try:
        _check_in_catalogue(Scope.parse(scope))
        key = _keys().create(role, scope, name=name)
    except LinkgraphError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from exc
    console.print(f"[green]created[/green] {role} key for scope {scope}; store it now:")
    print(key)


@keys_app.command("list")
def list_keys() -> None:
    """Key ids, names, roles and scopes (never the keys or their hashes)."""
    table = Table("key id", "name", "role", "scope", "created")
    for entry in _keys().list():
        table.add_row(
            entry["key_id"], entry["name"], entry["role"], entry["scope"], entry["created"]
        )
    console.print(table)


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key id (from `keys list`).")]) -> None:
    """Revoke a key: it stops working within a second."""
    if not _keys().revoke(key_id):
        console.print(f"[red]no key {key_id!r}[/red]")
        raise typer.Exit(1)
    console.print(f"revoked {key_id}")


def register(app: typer.Typer) -> None:
    app.add_typer(api_app, name="api")
