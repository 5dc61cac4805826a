-- RFC 9449 section 5: a public client's refresh tokens are bound to the DPoP key of the proof that obtained them, and
-- every refresh needs a proof by that key. The binding belongs to the whole family (every rotation keeps it), so it
-- is the grant's: the RFC 7638 SHA-256 thumbprint of the key, or NULL for an unbound grant (all existing ones).
ALTER TABLE grants ADD COLUMN dpop_jkt text;
