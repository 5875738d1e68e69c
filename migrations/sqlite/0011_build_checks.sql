-- The checks a succeeded build keeps besides its smoke test (issue 13); the PostgreSQL migration of
-- the same number is the same change.

-- A JupyterLab datalab's notebooks executed in the image: each one's outcome, cell and time.
ALTER TABLE builds ADD COLUMN notebook_checks TEXT;
-- A desktop datalab's screen after its smoke test, as PNG.
ALTER TABLE builds ADD COLUMN screenshot BLOB;
