-- Orthanc's /exports: one entry per resource a store call named (seq: its event's log
-- position). Exports recorded before requests were events listed every instance sent, so
-- those instances are entries here too.
CREATE TABLE requested (
    seq bigint PRIMARY KEY,
    resource_id text NOT NULL,
    level text NOT NULL,
    identifiers jsonb NOT NULL,
    destination_kind text NOT NULL,
    destination text NOT NULL,
    job_id text,
    origin jsonb NOT NULL,
    requested_at timestamptz NOT NULL
);
INSERT INTO requested
SELECT seq, instance_id, 'Instance', identifiers, destination_kind, destination, job_id, origin,
       exported_at
FROM exports;
