-- Credentials of modalities and peers, outside the event log (written with the event that
-- says they changed; deleted with the node).
CREATE TABLE credentials (
    kind text NOT NULL,
    name text NOT NULL,
    secrets jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (kind, name)
);
