-- The service's core tables. Identifiers are UUIDs in text form so that both backends share the
-- Rust row types; times are TIMESTAMPTZ here and RFC 3339 text in SQLite.

CREATE TABLE users (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    email TEXT,
    role TEXT NOT NULL CHECK (role IN ('researcher', 'author', 'moderator', 'admin')),
    -- ISO 3166-1 alpha-2 country of the user's affiliation; ESA Community Licence datalabs are
    -- visible only to users of ESA Member States.
    affiliation_country TEXT,
    -- NULL for accounts that sign in through an external identity provider.
    password_hash TEXT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ,
    UNIQUE (user_id, name)
);

CREATE TABLE datalabs (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL CHECK (kind IN ('jupyterlab', 'desktop', 'generic')),
    owner_id TEXT NOT NULL REFERENCES users (id),
    visibility TEXT NOT NULL DEFAULT 'private' CHECK (visibility IN ('public', 'private')),
    -- draft until a version is published; the publishing workflow owns the other states.
    state TEXT NOT NULL DEFAULT 'draft',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX datalabs_by_owner ON datalabs (owner_id);

-- Users a private datalab is shared with, besides its owner and the moderators.
CREATE TABLE datalab_members (
    datalab_id TEXT NOT NULL REFERENCES datalabs (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (datalab_id, user_id)
);

CREATE TABLE versions (
    id TEXT PRIMARY KEY,
    datalab_id TEXT NOT NULL REFERENCES datalabs (id) ON DELETE CASCADE,
    version TEXT NOT NULL,
    source_kind TEXT NOT NULL CHECK (source_kind IN ('git', 'zip', 'workspace')),
    -- git URL, upload id or workspace path.
    source_location TEXT NOT NULL,
    source_reference TEXT,
    -- metadata.yaml as validated by the last successful build, in its JSON form.
    metadata JSONB,
    state TEXT NOT NULL DEFAULT 'draft',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (datalab_id, version)
);

CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    size_bytes BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE builds (
    id TEXT PRIMARY KEY,
    datalab_id TEXT NOT NULL REFERENCES datalabs (id) ON DELETE CASCADE,
    version_id TEXT NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    number BIGINT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    requested_by TEXT REFERENCES users (id) ON DELETE SET NULL,
    queued_at TIMESTAMPTZ NOT NULL,
    started_at TIMESTAMPTZ,
    finished_at TIMESTAMPTZ,
    -- The worker holding a running build, and until when its lease runs without a heartbeat.
    worker TEXT,
    lease_expires_at TIMESTAMPTZ,
    cancel_requested BOOLEAN NOT NULL DEFAULT FALSE,
    failure TEXT,
    environment_hash TEXT,
    content_hash TEXT,
    image TEXT,
    digest TEXT,
    smoke_test TEXT,
    lint_findings JSONB,
    phase_timings JSONB,
    UNIQUE (version_id, number)
);
CREATE INDEX builds_queue ON builds (status, queued_at);
-- Builds of one datalab run in order: at most one runs at a time.
CREATE UNIQUE INDEX builds_one_running_per_datalab ON builds (datalab_id) WHERE status = 'running';

CREATE TABLE build_log_lines (
    build_id TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    line_number BIGINT NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL,
    text TEXT NOT NULL,
    PRIMARY KEY (build_id, line_number)
);

CREATE TABLE stars (
    datalab_id TEXT NOT NULL REFERENCES datalabs (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (datalab_id, user_id)
);

CREATE TABLE data_volumes (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    mission TEXT,
    source TEXT NOT NULL,
    mount_path TEXT NOT NULL,
    read_only BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE datazones (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    runtime TEXT NOT NULL CHECK (runtime IN ('docker', 'kubernetes')),
    endpoint TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);
