-- Launched datalabs (the table of sign-in sessions is `sessions`).
-- Sessions: a user's running datalab, launched from one version's succeeded build. CPU is kept
-- in thousandths of a CPU and memory in MiB, whole numbers on both backends.
CREATE TABLE datalab_sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id),
    name TEXT NOT NULL,
    datalab_id TEXT NOT NULL REFERENCES datalabs (id),
    datalab TEXT NOT NULL,
    version TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('jupyterlab', 'desktop', 'generic')),
    image TEXT NOT NULL,
    port INTEGER NOT NULL,
    health_path TEXT NOT NULL,
    cpu_millis BIGINT NOT NULL,
    memory_mib BIGINT NOT NULL,
    -- JSON list of {name, mount_path}, as resolved from the catalogue at launch.
    data_volumes TEXT NOT NULL,
    datazone TEXT NOT NULL,
    docker_endpoint TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'pulling', 'creating', 'starting',
        'waiting_for_health', 'ready', 'failed', 'ended')),
    reason TEXT,
    container_id TEXT,
    -- host:port the proxy reaches the container at (a loopback-published port).
    address TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    ready_at TIMESTAMPTZ,
    ended_at TIMESTAMPTZ,
    last_activity_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX datalab_sessions_by_user ON datalab_sessions (user_id, created_at);
CREATE INDEX datalab_sessions_by_status ON datalab_sessions (status);
