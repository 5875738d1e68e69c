-- The ESA Member States audience: a datalab may be published to signed-in users whose affiliation
-- is an ESA Member State. The SQLite migration of the same number is the same change.
ALTER TABLE datalabs DROP CONSTRAINT datalabs_visibility_check;
ALTER TABLE datalabs ADD CONSTRAINT datalabs_visibility_check
    CHECK (visibility IN ('public', 'member_states', 'private'));

-- Listed to signed-in users of an ESA Member State (besides owner, members and moderators).
ALTER TABLE marketplace_entries ADD COLUMN member_states BOOLEAN NOT NULL DEFAULT FALSE;
