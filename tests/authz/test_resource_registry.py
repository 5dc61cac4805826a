"""The resource registry (RFC 8707): its rules, and its repository against the real Postgres."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from authorium_shared.errors import InvalidScope, InvalidTarget
from authorium_shared.resources import create_pg_pool
from authz.resources import indicators
from authz.resources.records import (
    ADMIN_ID,
    NOTES_ID,
    BuiltInResource,
    InvalidResource,
    Resource,
    ResourceConflict,
    ResourceNotFound,
    check_identifier,
)
from authz.resources.registry import Registry
from authz.resources.repository import ResourceRepository
from authz.settings import AuthzSettings
from tests.conftest import DatabaseFactory

ADMIN_URL = "https://admin.internal"
NOTES_URL = "https://notes.example"


@pytest.fixture
def repository(db: asyncpg.Pool, environ: dict[str, str]) -> ResourceRepository:
    """A registry whose notes API and admin API have identifiers no other test's server uses."""
    tag = uuid.uuid4().hex[:8]
    settings = AuthzSettings.from_env(
        {
            **environ,
            "AUTHORIUM_RESOURCE_URL": f"https://notes-{tag}.example",
            "AUTHORIUM_ADMIN_URL": f"https://admin-{tag}.internal",
        }
    )
    return ResourceRepository(db, settings)


def tagged(*scopes: str) -> list[str]:
    tag = uuid.uuid4().hex[:8]
    return [f"{tag}:{s}" for s in scopes]


@pytest.mark.parametrize(
    "identifier",
    ["", "/relative", "api.example/x", "https://api.example/#frag", "https://api.example/x#", "https://a b", "http://"],
)
def test_identifiers_must_be_absolute_uris_without_fragments(identifier: str) -> None:
    """RFC 8707 section 2: a resource indicator is an absolute URI (RFC 3986 section 4.3) without a fragment."""
    with pytest.raises(InvalidResource) as raised:
        check_identifier(identifier)
    assert raised.value.field == "identifier"


@pytest.mark.parametrize("identifier", ["https://api.example", "https://api.example/v1?x=1", "urn:example:inventory"])
def test_absolute_uris_are_identifiers(identifier: str) -> None:
    """RFC 8707 section 2: any absolute URI, a URN too; a query is allowed, though discouraged."""
    assert check_identifier(identifier) == identifier


def _registry() -> Registry:
    return Registry(
        [
            Resource(ADMIN_ID, ADMIN_URL, None, ("authorium:admin",), None, built_in=True),
            Resource(NOTES_ID, NOTES_URL, None, ("notes:read", "notes:write"), None),
            Resource("inv", "https://inventory.example", None, ("inv:read",), 120),
        ],
        default_identifier=NOTES_URL,
    )


def test_choose_follows_rfc_8707() -> None:
    """RFC 8707 section 2: `resource` picks the audience and the token carries only its scopes (plus OpenID
    Connect's); without it the scopes pick; with neither, the default resource."""
    registry = _registry()
    asked = ["https://inventory.example"]
    target = indicators.choose(registry, asked, ["openid", "inv:read", "notes:read"], named=False)
    assert (target.identifiers, target.scopes) == (("https://inventory.example",), ("openid", "inv:read"))
    assert target.audience("https://issuer") == ("https://inventory.example", "https://issuer")
    assert indicators.choose(registry, [], ["authorium:admin"], named=True).identifiers == (ADMIN_URL,)
    assert indicators.choose(registry, [], ["openid"], named=True).identifiers == (NOTES_URL,)
    assert indicators.choose(registry, [], ["notes:read", "inv:read"], named=True).identifiers == (
        NOTES_URL,
        "https://inventory.example",
    )
    with pytest.raises(InvalidScope):
        indicators.choose(registry, ["https://inventory.example"], ["notes:read"], named=True)
    with pytest.raises(InvalidScope):
        indicators.choose(registry, [], ["undeclared:scope"], named=True)
    with pytest.raises(InvalidTarget):
        indicators.choose(registry, ["https://unknown.example"], [], named=False)
    with pytest.raises(InvalidTarget):
        indicators.narrow(registry, [NOTES_URL], ["https://inventory.example"], ["inv:read"], named=False)
    with pytest.raises(InvalidTarget):
        indicators.requested(["https://api.example/#x"])
    assert registry.lifetime([NOTES_URL, "https://inventory.example"], 600) == 120
    assert registry.lifetime([NOTES_URL], 600) == 600


async def test_create_list_update_delete(repository: ResourceRepository, db: asyncpg.Pool) -> None:
    """The registry's operations (what `authorium resource` and the admin API use); each is an audit event."""
    scopes = tagged("read", "write")
    identifier = f"https://{uuid.uuid4().hex[:8]}.example/api"
    created = await repository.create(identifier=identifier, scopes=" ".join(scopes), name="Inventory")
    assert (created.identifier, created.scopes, created.access_token_ttl) == (identifier, tuple(scopes), None)
    listed = await repository.list()
    assert [r.resource_id for r in listed[:2]] == [ADMIN_ID, NOTES_ID]  # the built-in entries first
    assert listed[0].identifier == repository.settings.admin_url
    assert listed[1].identifier == repository.settings.resource_url
    assert created in listed

    updated = await repository.update(created.resource_id, access_token_ttl=300, scopes=scopes[:1])
    assert (updated.access_token_ttl, updated.scopes, updated.name) == (300, tuple(scopes[:1]), "Inventory")
    assert await repository.get(created.resource_id) == updated

    deleted = await repository.delete(created.resource_id)
    assert deleted.resource_id == created.resource_id
    assert await repository.get(created.resource_id) is None
    events = await db.fetch(
        "SELECT event FROM audit_events WHERE details->>'resource_id' = $1 ORDER BY id", created.resource_id
    )
    assert [e["event"] for e in events] == ["resource_created", "resource_updated", "resource_deleted"]


async def test_a_scope_belongs_to_one_resource(repository: ResourceRepository, db: asyncpg.Pool) -> None:
    """RFC 8707 section 2 (one audience per scope here): registering a scope another resource declares, the
    notes API's or the admin API's included, or an identifier another has, is refused and stores nothing."""
    scopes = tagged("read")
    first = await repository.create(identifier=f"https://{uuid.uuid4().hex}.example", scopes=scopes)
    before = await db.fetchval("SELECT count(*) FROM resources")
    refusals = [
        ({"identifier": f"https://{uuid.uuid4().hex}.example", "scopes": scopes}, ResourceConflict),
        ({"identifier": first.identifier, "scopes": tagged("other")}, ResourceConflict),
        ({"identifier": f"https://{uuid.uuid4().hex}.example", "scopes": ["notes:read"]}, ResourceConflict),
        ({"identifier": repository.settings.resource_url, "scopes": tagged("x")}, ResourceConflict),
        ({"identifier": repository.settings.admin_url, "scopes": tagged("x")}, ResourceConflict),
        ({"identifier": f"https://{uuid.uuid4().hex}.example", "scopes": ["authorium:admin"]}, InvalidResource),
        ({"identifier": f"https://{uuid.uuid4().hex}.example", "scopes": ["openid"]}, InvalidResource),
        ({"identifier": "https://api.example/#x", "scopes": tagged("x")}, InvalidResource),
        ({"identifier": repository.settings.issuer, "scopes": tagged("x")}, InvalidResource),
    ]
    for fields, error in refusals:
        with pytest.raises(error):
            await repository.create(**fields)  # type: ignore[arg-type]
    with pytest.raises(InvalidResource):
        fresh = f"https://{uuid.uuid4().hex}.example"
        await repository.create(identifier=fresh, scopes=tagged("x"), access_token_ttl=9)
    with pytest.raises(ResourceConflict):
        await repository.update(first.resource_id, identifier=repository.settings.resource_url)
    assert await db.fetchval("SELECT count(*) FROM resources") == before
    assert await repository.get(first.resource_id) == first


async def test_concurrent_registrations_of_one_scope_store_one(
    repository: ResourceRepository, db: asyncpg.Pool
) -> None:
    """A scope has one owner even when two registrations race (they serialise on the registry's lock)."""
    scopes = tagged("read")
    outcomes = await asyncio.gather(
        *(repository.create(identifier=f"https://{uuid.uuid4().hex}.example", scopes=scopes) for _ in range(4)),
        return_exceptions=True,
    )
    assert sum(isinstance(o, Resource) for o in outcomes) == 1
    assert sum(isinstance(o, ResourceConflict) for o in outcomes) == 3
    assert await db.fetchval("SELECT count(*) FROM resources WHERE scopes && $1", scopes) == 1


async def test_the_built_in_entries_stay(repository: ResourceRepository) -> None:
    """The admin API's entry cannot change or go; the notes API (the default resource) cannot go, and its
    identifier is AUTHORIUM_RESOURCE_URL, but its lifetime is the operator's to set."""
    with pytest.raises(BuiltInResource):
        await repository.update(ADMIN_ID, access_token_ttl=60)
    with pytest.raises(BuiltInResource):
        await repository.delete(ADMIN_ID)
    with pytest.raises(BuiltInResource):
        await repository.delete(NOTES_ID)
    with pytest.raises(BuiltInResource):
        await repository.update(NOTES_ID, identifier="https://elsewhere.example")
    with pytest.raises(ResourceNotFound):
        await repository.delete(str(uuid.uuid4()))
    with pytest.raises(ResourceNotFound):
        await repository.update(str(uuid.uuid4()), name="x")


async def test_the_notes_api_lifetime_is_the_operators(make_database: DatabaseFactory, environ: dict[str, str]) -> None:
    """RFC 8707 section 2 leaves token lifetimes per resource to the server: the default resource's may be set
    (stored on first change, its identifier still AUTHORIUM_RESOURCE_URL) and set back to the server's. A database of
    its own, so no other test's server sees the change."""
    pool = await create_pg_pool(await make_database(), max_size=2)
    try:
        repository = ResourceRepository(pool, AuthzSettings.from_env(environ))
        notes = await repository.update(NOTES_ID, access_token_ttl=300)
        assert (notes.identifier, notes.access_token_ttl) == (repository.settings.resource_url, 300)
        assert (await repository.update(NOTES_ID, access_token_ttl=None)).access_token_ttl is None
    finally:
        await pool.close()


async def test_declaring_the_notes_api_is_idempotent(repository: ResourceRepository, db: asyncpg.Pool) -> None:
    """`authorium setup` / `run` store the notes API under AUTHORIUM_RESOURCE_URL once; again changes nothing."""
    await db.execute("DELETE FROM resources WHERE resource_id = $1", NOTES_ID)
    assert await repository.declare_notes_api() is True
    assert await repository.declare_notes_api() is False
    notes = await repository.get(NOTES_ID)
    assert notes is not None
    assert notes.identifier == repository.settings.resource_url
    assert notes.scopes == ("notes:read", "notes:write", "notes:admin")
    assert await db.fetchval("SELECT identifier FROM resources WHERE resource_id = $1", NOTES_ID) == notes.identifier
