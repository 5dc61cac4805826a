-- RFC 7662 section 2.1: a client the operator allows (`authorium client create --introspect`, a resource server)
-- may introspect any token of this issuer; every other client only its own. Only the operator grants it: dynamic
-- registration never writes this column. Existing clients read as false, as they behaved before it.
ALTER TABLE clients ADD COLUMN may_introspect boolean NOT NULL DEFAULT false;
