-- The marketplace's search index: one entry per published datalab, written only by
-- `refresh_datalab_search` (src/storage/catalog.rs) from the datalab and its published metadata.
-- The PostgreSQL migration of the same number is the same index with tsvector in place of FTS5.

-- What listings filter, sort and count on, kept narrow so that scanning every entry stays cheap;
-- the searchable text lives in marketplace_documents.
CREATE TABLE marketplace_entries (
    entry_id INTEGER PRIMARY KEY,
    datalab_id TEXT NOT NULL UNIQUE REFERENCES datalabs (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    owner_id TEXT NOT NULL,
    -- visibility = 'public'; private entries are listed to their owner, members and moderators.
    public BOOLEAN NOT NULL,
    licence TEXT,
    esa_official BOOLEAN NOT NULL,
    stars INTEGER NOT NULL,
    -- The codes of marketplace_facet_values this entry carries, space-separated: facet counts are
    -- computed from one aggregated read of this column instead of a join per value.
    facet_codes TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX marketplace_entries_by_stars ON marketplace_entries (stars DESC, name);
CREATE INDEX marketplace_entries_by_creation ON marketplace_entries (created_at DESC, name);
CREATE INDEX marketplace_entries_by_name ON marketplace_entries (name);

-- The searchable text of each entry; keywords as a JSON array.
CREATE TABLE marketplace_documents (
    entry_id INTEGER PRIMARY KEY REFERENCES marketplace_entries (entry_id) ON DELETE CASCADE,
    title TEXT NOT NULL,
    alternate_name TEXT NOT NULL,
    abstract TEXT NOT NULL,
    keywords TEXT NOT NULL
);

-- Full-text index over marketplace_documents (external content: the text is stored once), with
-- Porter stemming and prefix indexes for search-as-you-type.
CREATE VIRTUAL TABLE marketplace_search USING fts5 (
    title,
    alternate_name,
    abstract,
    keywords,
    content = 'marketplace_documents',
    content_rowid = 'entry_id',
    tokenize = 'porter unicode61 remove_diacritics 2',
    prefix = '2 3'
);
-- `ORDER BY rank` weighs a match in the title most, then the slug, the keywords, the abstract.
INSERT INTO marketplace_search (marketplace_search, rank) VALUES ('rank', 'bm25(10.0, 5.0, 1.0, 4.0)');

CREATE TRIGGER marketplace_documents_inserted AFTER INSERT ON marketplace_documents BEGIN
    INSERT INTO marketplace_search (rowid, title, alternate_name, abstract, keywords)
    VALUES (new.entry_id, new.title, new.alternate_name, new.abstract, new.keywords);
END;
CREATE TRIGGER marketplace_documents_deleted AFTER DELETE ON marketplace_documents BEGIN
    INSERT INTO marketplace_search (marketplace_search, rowid, title, alternate_name, abstract, keywords)
    VALUES ('delete', old.entry_id, old.title, old.alternate_name, old.abstract, old.keywords);
END;
CREATE TRIGGER marketplace_documents_updated AFTER UPDATE ON marketplace_documents BEGIN
    INSERT INTO marketplace_search (marketplace_search, rowid, title, alternate_name, abstract, keywords)
    VALUES ('delete', old.entry_id, old.title, old.alternate_name, old.abstract, old.keywords);
    INSERT INTO marketplace_search (rowid, title, alternate_name, abstract, keywords)
    VALUES (new.entry_id, new.title, new.alternate_name, new.abstract, new.keywords);
END;

-- Every facet value ever indexed, with the small number entries refer to it by. Codes are never
-- reused; a value no entry carries any more simply counts zero.
CREATE TABLE marketplace_facet_values (
    code INTEGER PRIMARY KEY,
    facet TEXT NOT NULL,
    value TEXT NOT NULL,
    UNIQUE (facet, value)
);

-- Which entries carry which facet value, for filtering.
CREATE TABLE marketplace_facets (
    code INTEGER NOT NULL REFERENCES marketplace_facet_values (code),
    entry_id INTEGER NOT NULL REFERENCES marketplace_entries (entry_id) ON DELETE CASCADE,
    PRIMARY KEY (code, entry_id)
) WITHOUT ROWID;
CREATE INDEX marketplace_facets_by_entry ON marketplace_facets (entry_id);
