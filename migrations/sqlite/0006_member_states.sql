-- no-transaction
-- The ESA Member States audience: a datalab may be published to signed-in users whose affiliation
-- is an ESA Member State. SQLite cannot change a CHECK constraint in place, so `datalabs` is
-- rebuilt the documented way (foreign keys off, copy, drop, rename, foreign keys checked), in one
-- transaction of its own. The PostgreSQL migration of the same number is the same change.
PRAGMA foreign_keys = OFF;
BEGIN;

CREATE TABLE datalabs_next (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('jupyterlab', 'desktop', 'generic')),
    owner_id TEXT NOT NULL REFERENCES users (id),
    visibility TEXT NOT NULL DEFAULT 'private'
        CHECK (visibility IN ('public', 'member_states', 'private')),
    -- draft until a version is published; the publishing workflow owns the other states.
    state TEXT NOT NULL DEFAULT 'draft',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
INSERT INTO datalabs_next (id, name, kind, owner_id, visibility, state, created_at, updated_at)
    SELECT id, name, kind, owner_id, visibility, state, created_at, updated_at FROM datalabs;
DROP TABLE datalabs;
ALTER TABLE datalabs_next RENAME TO datalabs;
CREATE INDEX datalabs_by_owner ON datalabs (owner_id);

-- Listed to signed-in users of an ESA Member State (besides owner, members and moderators).
ALTER TABLE marketplace_entries ADD COLUMN member_states BOOLEAN NOT NULL DEFAULT FALSE;

COMMIT;
PRAGMA foreign_keys = ON;
