"""The project's own Neo4j 5.26 Community server, assembled from Maven Central artifacts.

``install()`` fetches the jars, ``start()``/``stop()``/``status()`` manage one detached server
in ``settings.neo4j_home``, and ``admin_import()`` bulk-loads CSV files with the import tool.
"""

from linkgraph.neo4j_server.server import (
    JVM_FLAGS,
    Neo4jServerError,
    ServerStatus,
    admin_import,
    install,
    is_installed,
    java_command,
    pom_version,
    start,
    status,
    stop,
    wait_for_bolt,
    write_conf,
)

__all__ = [
    "JVM_FLAGS",
    "Neo4jServerError",
    "ServerStatus",
    "admin_import",
    "install",
    "is_installed",
    "java_command",
    "pom_version",
    "start",
    "status",
    "stop",
    "wait_for_bolt",
    "write_conf",
]
