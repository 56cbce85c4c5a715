-- The settings REST may change while the server runs (domain.runtime_settings), latest values.
CREATE TABLE runtime_settings (
    name text PRIMARY KEY,
    value jsonb NOT NULL,
    source text NOT NULL,
    changed_position bigint NOT NULL
);
