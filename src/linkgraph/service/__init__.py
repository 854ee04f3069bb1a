"""The recognition and investigation service behind the HTTP API (``api/``).

The routes stay thin: they parse, call :class:`Service`, and shape the answer.
Its use cases live in one module per audience (see :mod:`linkgraph.service.context`).

    service = Service(get_settings())
    caller = Caller(service.keys.verify(key), purpose="monthly payroll")
    await service.recognise_async(caller, "34160219490315012X", "URRP")
"""

from linkgraph.service.context import Caller, Conflict, Forbidden, NotFound
from linkgraph.service.core import Service
from linkgraph.service.gateway import StoreGateway
from linkgraph.service.keys import KeyStore, Principal, Role, Scope
from linkgraph.service.settings import ApiSettings

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
