-- Builds run by the service's queue; the PostgreSQL migration of the same number is the same change.

-- The pipeline phase that wrote a log line ('queue' for the worker's own lines: claimed, finished,
-- cancelled), so a reader can group or colour the log by phase.
ALTER TABLE build_log_lines ADD COLUMN phase TEXT NOT NULL DEFAULT 'queue';

-- True when nothing changed since an earlier build of the same version and its image was reused:
-- `image` and `digest` then name that build's image.
ALTER TABLE builds ADD COLUMN reused BOOLEAN NOT NULL DEFAULT FALSE;

-- The claim looks for a running build of the same datalab for every queued candidate.
CREATE INDEX builds_by_datalab_status ON builds (datalab_id, status);
-- Expired leases are looked for at every worker start and then periodically.
CREATE INDEX builds_by_lease ON builds (lease_expires_at) WHERE status = 'running';
