-- Every instance sent to a modality or peer. Seq is the log position of its event.
CREATE TABLE exports (
    seq bigint PRIMARY KEY,
    instance_id text NOT NULL,
    series_id text NOT NULL,
    study_id text NOT NULL,
    patient_id text NOT NULL,
    identifiers jsonb NOT NULL,
    destination_kind text NOT NULL,
    destination text NOT NULL,
    remote_aet text NOT NULL,
    job_id text,
    succeeded boolean NOT NULL,
    error text NOT NULL,
    origin jsonb NOT NULL,
    exported_at timestamptz NOT NULL
);
CREATE INDEX exports_patient ON exports (patient_id, seq);
CREATE INDEX exports_study ON exports (study_id, seq);
CREATE INDEX exports_destination ON exports (destination, seq);
CREATE INDEX exports_time ON exports (exported_at);
-- DELETE /exports hides the entries before this Seq from GET /exports; the audit keeps them.
CREATE TABLE visibility (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    hidden_below bigint NOT NULL
);
INSERT INTO visibility (hidden_below) VALUES (0);
