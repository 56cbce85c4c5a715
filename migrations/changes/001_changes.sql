-- Orthanc's /changes log. Seq derives from the log position of the event that caused it.
CREATE TABLE changes (
    seq bigint PRIMARY KEY,
    change_type text NOT NULL,
    resource_level smallint NOT NULL,
    resource_id text NOT NULL,
    changed_at timestamptz NOT NULL
);
-- What the changes projection must know to tell a new resource from an existing one.
CREATE TABLE live_resources (
    id text PRIMARY KEY,
    level smallint NOT NULL,
    instances_count integer NOT NULL,
    last_stored_position bigint NOT NULL
);
-- DELETE /changes hides the changes before this Seq; they stay in the table.
CREATE TABLE visibility (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    hidden_below bigint NOT NULL
);
INSERT INTO visibility (hidden_below) VALUES (0);
