-- Orthanc's jobs, from their events.
CREATE TABLE jobs (
    id text PRIMARY KEY,
    job_type text NOT NULL,
    priority integer NOT NULL,
    state text NOT NULL,
    progress integer NOT NULL,
    parameters jsonb NOT NULL,
    content jsonb NOT NULL DEFAULT '{}',
    error_code integer NOT NULL DEFAULT 0,
    error_description text NOT NULL DEFAULT 'Success',
    error_details text NOT NULL DEFAULT '',
    attempt integer NOT NULL DEFAULT 0,
    submitted_position bigint NOT NULL,
    created_at timestamptz NOT NULL,
    last_change_at timestamptz NOT NULL,
    started_at timestamptz,
    completed_at timestamptz,
    origin jsonb NOT NULL
);
-- Orthanc: the lower the value, the higher the priority.
CREATE INDEX jobs_pending ON jobs (priority, submitted_position) WHERE state = 'Pending';
