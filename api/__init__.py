"""linkgraph's HTTP API: ``uvicorn api.main:app`` (or ``linkgraph api serve``)."""
