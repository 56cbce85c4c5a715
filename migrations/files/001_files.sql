-- Files named by a stored event and not yet reaped: the start-up sweep removes all others.
CREATE TABLE files (
    uuid text PRIMARY KEY,
    instance_id text NOT NULL
);
