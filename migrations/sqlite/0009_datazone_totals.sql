-- What all sessions in a datazone may hold together; NULL is no limit.
ALTER TABLE datazones ADD COLUMN max_sessions INTEGER;
ALTER TABLE datazones ADD COLUMN max_cpu INTEGER;
ALTER TABLE datazones ADD COLUMN max_memory_gib INTEGER;
