-- Which process runs each Running job, by the PostgreSQL session that process keeps open for
-- its whole life (adapters/leadership.py): a new leader fails the jobs whose process is gone,
-- and leaves those another live process runs (a synchronous job in a request of its own).
CREATE TABLE job_runs (
    job_id text PRIMARY KEY,
    backend_pid integer NOT NULL,
    backend_start timestamptz NOT NULL
);
