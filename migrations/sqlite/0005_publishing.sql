-- Publishing: submissions of versions for review and the append-only history of every decision.
-- The PostgreSQL migration of the same number is the same schema.

-- A version put forward for publication to an audience, with the build that was checked.
CREATE TABLE submissions (
    id TEXT PRIMARY KEY,
    datalab_id TEXT NOT NULL REFERENCES datalabs (id) ON DELETE CASCADE,
    version_id TEXT NOT NULL REFERENCES versions (id) ON DELETE CASCADE,
    build_id TEXT NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    submitted_by TEXT NOT NULL REFERENCES users (id),
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'member_states', 'private')),
    licence TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('awaiting_review', 'changes_requested', 'approved',
        'published', 'rejected', 'withdrawn', 'superseded')),
    -- For an update of a published datalab: the field-by-field changes against the last approved
    -- version, as JSON; NULL for a first publication.
    changes TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX submissions_by_state ON submissions (state, created_at);
CREATE INDEX submissions_by_datalab ON submissions (datalab_id, created_at);

-- Every transition of a datalab's publication, numbered within the datalab. Deliberately without a
-- foreign key: the history outlives a deleted draft. Rows are never changed or removed.
CREATE TABLE history (
    datalab_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    datalab_name TEXT NOT NULL,
    submission_id TEXT,
    -- The user's name; NULL for labforge itself (automatic checks, the operator's examples).
    actor TEXT,
    action TEXT NOT NULL,
    from_state TEXT,
    to_state TEXT NOT NULL,
    version TEXT,
    build_number INTEGER,
    comment TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (datalab_id, sequence)
);

CREATE TRIGGER history_is_append_only_update BEFORE UPDATE ON history
BEGIN
    SELECT RAISE(ABORT, 'the history is append-only');
END;

CREATE TRIGGER history_is_append_only_delete BEFORE DELETE ON history
BEGIN
    SELECT RAISE(ABORT, 'the history is append-only');
END;
