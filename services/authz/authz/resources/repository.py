"""The resource registry in Postgres: list, get, create, update, delete (what `authorium resource` and the admin API
do), and the notes API's declaration by `authorium setup` / `run`. Changes are serialised by one advisory lock, so
two registrations can never both claim an identifier or a scope; each is an audit event in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final

import asyncpg

from authz.audit import AuditLog, audited_transaction
from authz.control import CLI_ACTOR
from authz.resources.records import (
    ADMIN_ID,
    ADMIN_SCOPE,
    NOTES_ID,
    NOTES_SCOPES,
    BuiltInResource,
    InvalidResource,
    Resource,
    ResourceConflict,
    ResourceNotFound,
    check_identifier,
    check_name,
    check_scopes,
    check_ttl,
    view,
)
from authz.settings import AuthzSettings, BuiltInResources

_COLUMNS = "resource_id, identifier, name, scopes, access_token_ttl, created_at, updated_at"
# Names the advisory lock every registry change holds (any constant; all replicas and the CLI use this one).
_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('authorium resources', 0))"


class Keep:
    """An update leaves this field as it is."""


KEEP: Final = Keep()


class ResourceRepository:
    def __init__(self, pool: asyncpg.Pool, settings: AuthzSettings) -> None:
        self.pool = pool
        self.settings = settings

    def _view(self, stored: Sequence[Resource]) -> list[Resource]:
        return view(stored, admin_url=self.settings.admin_url, resource_url=self.settings.resource_url)

    @staticmethod
    async def _stored(conn: asyncpg.Connection | asyncpg.Pool) -> list[Resource]:
        rows = await conn.fetch(f"SELECT {_COLUMNS} FROM resources ORDER BY created_at, resource_id")
        return [Resource.from_row(row) for row in rows]

    async def list(self) -> list[Resource]:
        """Every resource: the admin API, the notes API, then the registered ones in the order they were made."""
        return self._view(await self._stored(self.pool))

    async def get(self, resource_id: str) -> Resource | None:
        return next((r for r in await self.list() if r.resource_id == resource_id), None)

    def _check_free(self, current: Sequence[Resource], candidate: Resource) -> None:
        """ResourceConflict unless `candidate`'s identifier and scopes are nobody else's (RFC 8707: a scope belongs
        to the one resource that declares it)."""
        if candidate.identifier == self.settings.issuer:
            raise InvalidResource("the issuer itself is not a resource", "identifier")
        for other in current:
            if other.resource_id == candidate.resource_id:
                continue
            if other.identifier == candidate.identifier:
                raise ResourceConflict(
                    f"identifier {candidate.identifier} is registered already ({other.resource_id})", "identifier"
                )
            shared = [s for s in candidate.scopes if s in other.scopes]
            if shared:
                raise ResourceConflict(f"scope {' '.join(shared)} is declared by {other.identifier} already", "scopes")

    async def create(
        self,
        *,
        identifier: str,
        scopes: str | Sequence[str],
        name: str | None = None,
        access_token_ttl: int | None = None,
        actor: str = CLI_ACTOR,
    ) -> Resource:
        """Register a resource; raises InvalidResource or ResourceConflict, storing nothing."""
        candidate = Resource(
            resource_id=str(uuid.uuid4()),
            identifier=check_identifier(identifier),
            name=check_name(name),
            scopes=check_scopes(scopes),
            access_token_ttl=check_ttl(access_token_ttl),
        )
        async with audited_transaction(self.pool) as conn:
            await conn.execute(_LOCK)
            self._check_free(self._view(await self._stored(conn)), candidate)
            created = await self._insert(conn, candidate)
            await _audit(conn, "resource_created", created, actor)
        return created

    @staticmethod
    async def _insert(conn: asyncpg.Connection, resource: Resource) -> Resource:
        row = await conn.fetchrow(
            f"""INSERT INTO resources (resource_id, identifier, name, scopes, access_token_ttl)
                VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}""",
            resource.resource_id,
            resource.identifier,
            resource.name,
            list(resource.scopes),
            resource.access_token_ttl,
        )
        assert row is not None
        return Resource.from_row(row)

    async def update(
        self,
        resource_id: str,
        *,
        identifier: str | Keep = KEEP,
        scopes: str | Sequence[str] | Keep = KEEP,
        name: str | Keep | None = KEEP,
        access_token_ttl: int | Keep | None = KEEP,
        actor: str = CLI_ACTOR,
        check: Callable[[Resource], None] | None = None,
    ) -> Resource:
        """Change the fields given; raises ResourceNotFound, BuiltInResource (the admin API; the notes API's
        identifier, which is AUTHORIUM_RESOURCE_URL), InvalidResource or ResourceConflict, changing nothing."""
        if resource_id == ADMIN_ID:
            raise BuiltInResource("the admin API's entry is built in and cannot be changed")
        async with audited_transaction(self.pool) as conn:
            await conn.execute(_LOCK)
            current = self._view(await self._stored(conn))
            found = next((r for r in current if r.resource_id == resource_id), None)
            if found is None:
                raise ResourceNotFound(f"no resource has id {resource_id!r}")
            if check is not None:
                check(found)
            changed = found
            if not isinstance(identifier, Keep):
                if resource_id == NOTES_ID and identifier != found.identifier:
                    raise BuiltInResource(
                        "the notes API's identifier is AUTHORIUM_RESOURCE_URL: change that and run `authorium setup`",
                        "identifier",
                    )
                changed = replace(changed, identifier=check_identifier(identifier))
            if not isinstance(scopes, Keep):
                changed = replace(changed, scopes=check_scopes(scopes))
            if not isinstance(name, Keep):
                changed = replace(changed, name=check_name(name))
            if not isinstance(access_token_ttl, Keep):
                changed = replace(changed, access_token_ttl=check_ttl(access_token_ttl))
            self._check_free(current, changed)
            row = await conn.fetchrow(
                f"""INSERT INTO resources AS r (resource_id, identifier, name, scopes, access_token_ttl)
                    VALUES ($1, $2, $3, $4, $5)
                    ON CONFLICT (resource_id) DO UPDATE SET identifier = EXCLUDED.identifier, name = EXCLUDED.name,
                        scopes = EXCLUDED.scopes, access_token_ttl = EXCLUDED.access_token_ttl, updated_at = now()
                    RETURNING {_COLUMNS}""",
                changed.resource_id,
                changed.identifier,
                changed.name,
                list(changed.scopes),
                changed.access_token_ttl,
            )
            assert row is not None
            updated = self._view([Resource.from_row(row)])
            result = next(r for r in updated if r.resource_id == resource_id)
            await _audit(conn, "resource_updated", result, actor)
        return result

    async def delete(
        self, resource_id: str, *, actor: str = CLI_ACTOR, check: Callable[[Resource], None] | None = None
    ) -> Resource:
        """Remove a registered resource; tokens already issued for it stay valid until they expire. Raises
        ResourceNotFound, or BuiltInResource for the admin API and the default (notes) resource."""
        if resource_id in (ADMIN_ID, NOTES_ID):
            raise BuiltInResource(f"the {'admin' if resource_id == ADMIN_ID else 'default'} resource cannot be deleted")
        async with audited_transaction(self.pool) as conn:
            await conn.execute(_LOCK)
            found = next((r for r in self._view(await self._stored(conn)) if r.resource_id == resource_id), None)
            if found is None:
                raise ResourceNotFound(f"no resource has id {resource_id!r}")
            if check is not None:
                check(found)
            row = await conn.fetchrow(f"DELETE FROM resources WHERE resource_id = $1 RETURNING {_COLUMNS}", resource_id)
            assert row is not None
            deleted = Resource.from_row(row)
            await _audit(conn, "resource_deleted", deleted, actor)
        return deleted

    async def declare_notes_api(self) -> bool:
        """Make sure the notes API is stored with identifier AUTHORIUM_RESOURCE_URL (what `setup` and `run` do;
        idempotent). Its scopes, name and token lifetime, once stored, are the operator's to change. True if this
        stored or moved it. Raises ResourceConflict when another resource holds that identifier or a notes scope."""
        async with audited_transaction(self.pool) as conn:
            await conn.execute(_LOCK)
            stored = await self._stored(conn)
            existing = next((r for r in stored if r.resource_id == NOTES_ID), None)
            if existing is not None and existing.identifier == self.settings.resource_url:
                return False
            candidate = (
                Resource(NOTES_ID, self.settings.resource_url, "Notes API", NOTES_SCOPES, None)
                if existing is None
                else replace(existing, identifier=self.settings.resource_url)
            )
            # Checked against what is stored, not the view (which always has a notes API of its own).
            self._check_free([r for r in stored if r.resource_id != NOTES_ID], candidate)
            await conn.execute(
                """INSERT INTO resources (resource_id, identifier, name, scopes, access_token_ttl)
                   VALUES ($1, $2, $3, $4, $5)
                   ON CONFLICT (resource_id) DO UPDATE SET identifier = EXCLUDED.identifier, updated_at = now()""",
                candidate.resource_id,
                candidate.identifier,
                candidate.name,
                list(candidate.scopes),
                candidate.access_token_ttl,
            )
            await _audit(conn, "resource_declared", candidate, "setup")
        return True


async def registered_identifiers(conn: asyncpg.Connection | asyncpg.Pool, built_in: BuiltInResources) -> frozenset[str]:
    """Every registered resource's identifier, as the server sees the registry (`view`): the admin API's, the notes
    API's (stored or not), the stored rest's."""
    stored = await ResourceRepository._stored(conn)
    return frozenset(
        r.identifier for r in view(stored, admin_url=built_in.admin_url, resource_url=built_in.resource_url)
    )


async def declared_scopes(conn: asyncpg.Connection | asyncpg.Pool) -> frozenset[str]:
    """Every scope some resource declares: the stored ones', the admin API's, and the notes API's defaults until
    it is stored. With OpenID Connect's, these are the scopes this server knows (what a client may register)."""
    rows = await conn.fetch("SELECT resource_id, scopes FROM resources")
    stored = {scope for row in rows for scope in row["scopes"]}
    defaults = () if any(row["resource_id"] == NOTES_ID for row in rows) else NOTES_SCOPES
    return frozenset({ADMIN_SCOPE, *defaults, *stored})


async def _audit(conn: asyncpg.Connection, event: str, resource: Resource, actor: str) -> None:
    await AuditLog(conn).record(
        event,
        details={
            "actor": actor,
            "resource_id": resource.resource_id,
            "identifier": resource.identifier,
            "scopes": list(resource.scopes),
        },
        conn=conn,
    )
