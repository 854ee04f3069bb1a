"""Resolution: which person a record belongs to, why two records are (not) one person,
and reviewers' link and split decisions.

All three use the current version's linkage state through one resolver, loaded on
first use and kept on the context (:func:`linker_resolver`); the write lock guards
it, since resolving and explaining touch its caches and a review changes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from linkgraph.service.context import Caller, Conflict, NotFound, ServiceContext
from linkgraph.service.masking import shown_explanation
from linkgraph.service.readmodel import ReadModel

if TYPE_CHECKING:
    from linkgraph.link import Resolver


def linker_resolver(ctx: ServiceContext) -> Resolver:
    """The context's resolver, loaded from the linkage state when there is none yet."""
    if ctx.resolver is None:
        from linkgraph.link import Resolver  # the linkage stack, only once a caller needs it

        directory = ctx.api.resolved_linkage_dir(ctx.settings)
        try:
            ctx.resolver = Resolver.from_state(directory)
        except FileNotFoundError as exc:
            raise NotFound(f"no linkage state under {directory}: run the pipeline first") from exc
    return ctx.resolver


def _check_linked(resolver: Resolver, *records: str) -> None:
    for r in records:
        if r not in resolver.linker.index_of:
            raise NotFound(f"record {r!r} is not among the linked records")


def resolve(ctx: ServiceContext, caller: Caller, record: dict[str, Any]) -> dict[str, Any]:
    """Which person a record belongs to, by the incremental resolver; nothing is saved."""
    with ctx.write_lock:
        resolver = linker_resolver(ctx)
        try:
            resolution = resolver.resolve_one(record, keep=False)  # a look-up only
        except ValueError as exc:
            raise Conflict(str(exc)) from exc
    model = ctx.read_model()
    known = not resolution.new_person and ctx.sees(caller, model, resolution.person_id)
    subjects = [resolution.person_id] if known else []
    ctx.audit.write(caller.entry("resolution.resolve", subjects, record_id=resolution.record_id))
    return {
        "record_id": resolution.record_id,
        "person_id": resolution.person_id if known else None,
        "new_person": not known,
        "band": resolution.band if known else "non-match",
        "match_probability": resolution.match_probability if known else 0.0,
        "candidates": [
            {"record_id": r, "person_id": p, "match_probability": prob}
            for r, p, prob in resolution.candidates
            if _record_in_scope(ctx, caller, model, r)
        ],
    }


def _record_in_scope(ctx: ServiceContext, caller: Caller, model: ReadModel, record: str) -> bool:
    """Whether a department's key may see a source record: only its own department's."""
    department = caller.principal.scope.department
    if department is None:
        return True
    enrolment = model.enrollments.get(record)
    return enrolment is not None and ctx.item_department.get(enrolment.item_code) == department


def explain(ctx: ServiceContext, caller: Caller, record_a: str, record_b: str) -> dict[str, Any]:
    """Why two linked records are (or are not) the same person: per-field weights."""
    resolver = linker_resolver(ctx)
    linker = resolver.linker
    _check_linked(resolver, record_a, record_b)
    with ctx.write_lock:
        explanation = linker.explanations.explain(record_a, record_b)
    data = shown_explanation(caller, explanation.to_dict())
    persons = [resolver.person_of[linker.index_of[r]] for r in (record_a, record_b)]
    ctx.audit.write(
        caller.entry("resolution.explain", sorted(set(persons)), records=[record_a, record_b])
    )
    return {**data, "person_a": persons[0], "person_b": persons[1]}


def review(
    ctx: ServiceContext,
    caller: Caller,
    decision: str,
    record_a: str,
    record_b: str,
    why: str,
    dry_run: bool = False,
) -> dict[str, Any]:
    """A reviewer's link (same person) or split (different persons) decision, with what it
    changes at the next linkage run (:func:`linkgraph.link.review.preview`); kept with
    that effect unless ``dry_run``."""
    from linkgraph.link.review import ReviewError, preview

    resolver = linker_resolver(ctx)
    linker = resolver.linker
    _check_linked(resolver, record_a, record_b)
    kind = "link" if decision == "link" else "apart"
    who = f"{caller.principal.name} ({caller.principal.key_id})"
    with ctx.write_lock:
        try:
            effect = preview(linker.store.path, kind, record_a, record_b).lines()
        except ReviewError as exc:
            raise Conflict(str(exc)) from exc
        if not dry_run:
            linker.store.add_override(kind, record_a, record_b, who, why, "; ".join(effect))
            ctx.resolver = None  # the next resolution honours the decision
            p = caller.principal
            ctx.journal.append(
                "review",
                p.key_id,
                p.name,
                decision=decision,
                records=[record_a, record_b],
                why=why,
                effect=effect,
            )
    persons = sorted({resolver.person_of[linker.index_of[r]] for r in (record_a, record_b)})
    if not dry_run:
        ctx.audit.write(
            caller.entry(f"review.{decision}", persons, records=[record_a, record_b], why=why)
        )
    return {
        "decision": decision,
        "record_a": record_a,
        "record_b": record_b,
        "who": who,
        "why": why,
        "effective": "not recorded (dry run)" if dry_run else "at the next linkage run",
        "persons_now": persons,
        "effect": effect,
    }
