"""The recognition and investigation service behind the HTTP API (``api/``).

The routes stay thin: they parse, call :class:`Service`, and shape the answer.
Its use cases live in one module per audience (see :mod:`linkgraph.service.context`).

    service = Service(get_settings())
    caller = Caller(service.keys.verify(key), purpose="monthly payroll")
    await service.recognise_async(caller, "34160219490315012X", "URRP")

Names are loaded on first use: ``linkgraph api keys`` needs the key store, not the
whole service and the engines under it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from linkgraph.service.context import Caller, Conflict, Forbidden, NotFound
    from linkgraph.service.core import Service
    from linkgraph.service.gateway import StoreGateway
    from linkgraph.service.keys import KeyStore, Principal, Role, Scope
    from linkgraph.service.settings import ApiSettings

#: Where each exported name lives.
_MODULE_OF = {
    "ApiSettings": "settings",
    "Caller": "context",
    "Conflict": "context",
    "Forbidden": "context",
    "KeyStore": "keys",
    "NotFound": "context",
    "Principal": "keys",
    "Role": "keys",
    "Scope": "keys",
    "Service": "core",
    "StoreGateway": "gateway",
}

__all__ = [
    "ApiSettings",
    "Caller",
    "Conflict",
    "Forbidden",
    "KeyStore",
    "NotFound",
    "Principal",
    "Role",
    "Scope",
    "Service",
    "StoreGateway",
]


def __getattr__(name: str) -> Any:
    if name in _MODULE_OF:
        return getattr(import_module(f"linkgraph.service.{_MODULE_OF[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
