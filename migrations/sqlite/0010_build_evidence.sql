-- The evidence a succeeded build keeps (issue 13); the PostgreSQL migration of the same number is the
-- same change. Renumber freely on merge: nothing depends on the number.

-- The image's SPDX 2.3 JSON document, also attached to the image in the registry as a referrer.
ALTER TABLE builds ADD COLUMN sbom TEXT;
-- The licence report: counts and the dependencies whose licences are flagged, with why.
ALTER TABLE builds ADD COLUMN licence_report TEXT;
