-- Datazones name their runtime's configuration: a docker one its daemon (`endpoint`, empty for
-- the daemon labforge builds with); a kubernetes one its kubeconfig and namespace (NULL for
-- labforge's own kubeconfig and that kubeconfig's namespace), `endpoint` overriding the
-- kubeconfig's API server when not empty.
ALTER TABLE datazones ADD COLUMN kubeconfig TEXT;
ALTER TABLE datazones ADD COLUMN namespace TEXT;

-- A session records where it runs, as its datazone said at launch: a docker session the daemon's
-- endpoint; a kubernetes session its kubeconfig (empty for labforge's own) in `runtime_endpoint`,
-- the API server override in `api_server` and the namespace its objects live in.
ALTER TABLE datalab_sessions RENAME COLUMN docker_endpoint TO runtime_endpoint;
ALTER TABLE datalab_sessions ADD COLUMN runtime TEXT NOT NULL DEFAULT 'docker'
    CHECK (runtime IN ('docker', 'kubernetes'));
ALTER TABLE datalab_sessions ADD COLUMN api_server TEXT;
ALTER TABLE datalab_sessions ADD COLUMN namespace TEXT;
