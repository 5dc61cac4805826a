-- What a rotation issued alongside each refresh token, so that inside the reuse grace window the same
-- successor pair can be handed out again (AUTHORIUM_REFRESH_REUSE_GRACE_SECONDS).
ALTER TABLE refresh_tokens ADD COLUMN access_jti text;
ALTER TABLE refresh_tokens ADD COLUMN access_scopes text[];
