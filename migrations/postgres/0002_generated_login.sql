-- The admin login generated when no [auth] users are configured, one per
-- cluster: the first node to start stores the argon2 hash of the password
-- it generated (never the password); every other node uses it.
CREATE TABLE IF NOT EXISTS {prefix}generated_login (
    name            TEXT     PRIMARY KEY,
    password_hash   TEXT     NOT NULL,
    created_by      TEXT     NOT NULL,
    created_at      BIGINT   NOT NULL
);
