-- What all sessions in a datazone may hold together; NULL is no limit.
ALTER TABLE datazones ADD COLUMN max_sessions BIGINT;
ALTER TABLE datazones ADD COLUMN max_cpu BIGINT;
ALTER TABLE datazones ADD COLUMN max_memory_gib BIGINT;
