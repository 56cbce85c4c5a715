-- Logins (a password verified, a token used) and failed attempts, for admins (GET /tools/logins).
-- Not archive state: nothing in the log refers to them. The newest MAX_LOGINS rows are kept.
CREATE TABLE logins (
    number bigserial PRIMARY KEY,
    at timestamptz NOT NULL DEFAULT now(),
    user_name text NOT NULL,
    source text NOT NULL,               -- the client's address
    scheme text NOT NULL,               -- 'basic' or 'bearer'
    succeeded boolean NOT NULL
);
