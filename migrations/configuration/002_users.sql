-- Users of the HTTP surfaces (their password hashes are in the secret store, never here).
CREATE TABLE users (
    name text PRIMARY KEY,
    role text NOT NULL,                 -- 'admin', 'user' or 'auditor'
    source text NOT NULL,               -- 'configuration' (RegisteredUsers), 'cli' or 'rest'
    disabled boolean NOT NULL DEFAULT false,
    created_position bigint NOT NULL,
    changed_position bigint NOT NULL    -- of the last event: cached verifications end there
);
