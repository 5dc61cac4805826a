"""The resource registry's operations for the admin API (`/admin/v1/resources`): the repository's rules, its refusals
as the control plane's errors, `If-Match` versions, and every change announced so each replica reloads the registry
at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from authz.control import BadInput, Conflict, Control, ControlError, NotFound, Page, check_members, check_version
from authz.resources.records import (
    BuiltInResource,
    InvalidResource,
    Resource,
    ResourceConflict,
    ResourceError,
    ResourceNotFound,
)
from authz.resources.registry import ResourceCache, announce_change
from authz.resources.repository import KEEP, ResourceRepository

MEMBERS = {"identifier": str, "scopes": list, "name": str, "access_token_ttl": int}
NULLABLE = ("name", "access_token_ttl")


def resource_view(resource: Resource) -> dict[str, Any]:
    return resource.as_json()


def _refusal(exc: ResourceError) -> ControlError:
    if isinstance(exc, InvalidResource):
        return BadInput(exc.field, exc.message)
    if isinstance(exc, ResourceNotFound):
        return NotFound(exc.message)
    if isinstance(exc, ResourceConflict):
        return Conflict(exc.message)
    # A built-in entry (the admin API; the notes API's identifier and existence): its state is what forbids it.
    assert isinstance(exc, BuiltInResource)
    return Conflict(exc.message)


def _versioned(expected: str | None) -> Callable[[Resource], None]:
    return lambda found: check_version(resource_view(found), expected)


async def list_resources(control: Control) -> Page:
    """Every resource, built-in ones first; the registry is small, so it is one page."""
    found = await ResourceRepository(control.pool, control.settings).list()
    return Page([resource_view(r) for r in found], None)


async def get_resource(control: Control, resource_id: str) -> Resource:
    found = await ResourceRepository(control.pool, control.settings).get(resource_id)
    if found is None:
        raise NotFound(f"no resource has id {resource_id!r}")
    return found


async def create_resource(control: Control, document: object, cache: ResourceCache | None = None) -> Resource:
    fields = check_members(document, MEMBERS, nullable=NULLABLE)
    for required in ("identifier", "scopes"):
        if required not in fields:
            raise BadInput(required, f"{required} is required")
    try:
        created = await ResourceRepository(control.pool, control.settings).create(
            identifier=fields["identifier"],
            scopes=fields["scopes"],
            name=fields.get("name"),
            access_token_ttl=fields.get("access_token_ttl"),
            actor=control.actor,
        )
    except ResourceError as exc:
        raise _refusal(exc) from None
    await _changed(control, cache)
    return created


async def update_resource(
    control: Control,
    resource_id: str,
    document: object,
    *,
    expected_version: str | None = None,
    cache: ResourceCache | None = None,
) -> Resource:
    fields = check_members(document, MEMBERS, nullable=NULLABLE)
    try:
        updated = await ResourceRepository(control.pool, control.settings).update(
            resource_id,
            identifier=fields.get("identifier", KEEP),
            scopes=fields.get("scopes", KEEP),
            name=fields.get("name", KEEP),
            access_token_ttl=fields.get("access_token_ttl", KEEP),
            actor=control.actor,
            check=_versioned(expected_version),
        )
    except ResourceError as exc:
        raise _refusal(exc) from None
    await _changed(control, cache)
    return updated


async def delete_resource(
    control: Control, resource_id: str, *, expected_version: str | None = None, cache: ResourceCache | None = None
) -> None:
    try:
        await ResourceRepository(control.pool, control.settings).delete(
            resource_id, actor=control.actor, check=_versioned(expected_version)
        )
    except ResourceError as exc:
        raise _refusal(exc) from None
    await _changed(control, cache)


async def _changed(control: Control, cache: ResourceCache | None) -> None:
    """This replica's registry now, the others' on the announcement."""
    if cache is not None:
        await cache.reload()
    await announce_change(control.redis, control.keys)
