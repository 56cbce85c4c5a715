-- Where each processor is in the log (read models keep theirs in their own schema).
CREATE TABLE processor_positions (
    name text PRIMARY KEY,
    position bigint NOT NULL,
    registered_at timestamptz NOT NULL DEFAULT now()
);
-- What each read model's and processor's runner last reported: rate, errors, state.
CREATE TABLE consumers (
    name text PRIMARY KEY,
    kind text NOT NULL,                 -- 'projection' or 'processor'
    state text NOT NULL,                -- 'running', 'failing', 'stopped'
    position bigint NOT NULL,
    events_per_second double precision NOT NULL DEFAULT 0,
    failing_position bigint,
    last_error text,
    failing_since timestamptz,
    updated_at timestamptz NOT NULL DEFAULT now(),
    process_id integer
);
