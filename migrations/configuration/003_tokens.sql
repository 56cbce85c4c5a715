-- Bearer tokens (their digests are in the secret store, never here); revoked ones are removed.
CREATE TABLE tokens (
    token_id text PRIMARY KEY,
    user_name text NOT NULL,
    description text NOT NULL,
    expires timestamptz,                -- NULL: never
    created_by text NOT NULL,
    created_position bigint NOT NULL
);
