-- The resource server's own data: each user's notes. `owner` is the token's `sub`.
CREATE TABLE notes (
    note_id uuid PRIMARY KEY,
    owner text NOT NULL,
    title text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body text NOT NULL DEFAULT '' CHECK (length(body) <= 10000),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
-- Listing a user's notes newest first, paginated by (created_at, note_id).
CREATE INDEX notes_owner_created_idx ON notes (owner, created_at DESC, note_id DESC);
