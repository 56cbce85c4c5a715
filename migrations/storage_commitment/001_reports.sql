-- The storage commitments Chronicle asked of modalities, and their reports.
CREATE TABLE reports (
    id text PRIMARY KEY,                  -- the aggregate's
    transaction_uid text NOT NULL UNIQUE,
    modality text NOT NULL,
    remote_aet text NOT NULL,
    job_id text,
    status text NOT NULL,                 -- Pending, Success or Failure
    details text,                         -- why the request failed (no report will come)
    reports integer NOT NULL DEFAULT 0,   -- N-EVENT-REPORTs received (the last one counts)
    expected integer NOT NULL DEFAULT 0,  -- entries of the last report still to be listed
    failed integer NOT NULL DEFAULT 0,    -- failures in the last report
    requested_at timestamptz NOT NULL,
    completed_at timestamptz,
    origin jsonb NOT NULL
);
-- The instances of each: requested, and, from the last report, succeeded or failed.
CREATE TABLE entries (
    report_id text NOT NULL,
    kind text NOT NULL,
    position bigint NOT NULL,
    ordinal integer NOT NULL,
    sop_class_uid text NOT NULL,
    sop_instance_uid text NOT NULL,
    failure_reason integer,
    PRIMARY KEY (report_id, kind, position, ordinal)
);
