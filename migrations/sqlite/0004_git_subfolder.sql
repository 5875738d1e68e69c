-- One folder of a git repository as a version's source; the other backend's migration of the same
-- number is the same change.

-- The folder of a git source that is staged alone, relative to the repository's root; NULL stages
-- the whole repository (and is the only value for zip and workspace sources).
ALTER TABLE versions ADD COLUMN source_subfolder TEXT;
