-- C-FIND SCU results kept for /queries/{id} (Orthanc keeps them in memory): here, so that any
-- process of the archive answers them. Not archive state: nothing in the log refers to them.
CREATE TABLE queries (
    id text PRIMARY KEY,
    number bigserial UNIQUE,            -- creation order: the oldest go first beyond the limit
    modality text NOT NULL,
    level text NOT NULL,
    query jsonb NOT NULL,               -- the filter as the client gave it, in full tags
    answers bytea[] NOT NULL,           -- each answer encoded in Explicit VR Little Endian
    created_at timestamptz NOT NULL DEFAULT now()
);
