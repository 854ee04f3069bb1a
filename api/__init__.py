"""linkgraph's HTTP API: ``uvicorn api.main:app`` (or ``linkgraph api serve``).

Versioned under ``/v1``; every route needs an ``X-API-Key`` (``linkgraph api keys
create --role ... --scope ...``); ``X-Purpose`` says why (kept in the audit log).

=====================  =====================================  ==========================
audience (role)        route                                  what
=====================  =====================================  ==========================
benefit_system         POST /v1/recognition                   one person, one item
                       POST /v1/recognition/bulk              up to 10,000 ID numbers
                       POST /v1/rosters/changes               new / changed / ended
channel                POST /v1/evidence/batches              evidence events
benefit_system, inv.,  POST /v1/resolution/resolve            record -> person (live)
reviewer               POST /v1/resolution/explain            why (not) the same person
reviewer               POST /v1/reviews                       link / split decision
investigator           GET  /v1/persons/{person_id}           person 360
                       GET  /v1/queries                       the library's read queries
                       POST /v1/queries/{name}                run one by name
                       GET  /v1/flags, /v1/flags/{flag_id}    flags
                       POST /v1/flags/{flag_id}/transitions   confirm, dismiss, recovered
grid_worker            GET  /v1/grids/{grid}/tasks            open door-check tasks
                       POST /v1/tasks/{task_id}/visit         what was found at the door
citizen                POST /v1/stop-requests                 hold now, pending a human
admin                  GET  /v1/audit                         who read/changed whose data
                       POST /v1/admin/refresh                 reload after a pipeline run
(none)                 GET  /healthz, /readyz, /metrics       operations
=====================  =====================================  ==========================

Admin keys pass every role gate. Errors are JSON: ``{"error", "detail", "request_id"}``.
"""
