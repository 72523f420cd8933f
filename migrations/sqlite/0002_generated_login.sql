-- The cluster's generated admin login (see the PostgreSQL and MySQL
-- migrations). On SQLite each node keeps generating its own password, so
-- the table stays empty; it exists so every backend has the same schema
-- versions.
CREATE TABLE IF NOT EXISTS {prefix}generated_login (
    name            TEXT     PRIMARY KEY,
    password_hash   TEXT     NOT NULL,
    created_by      TEXT     NOT NULL,
    created_at      INTEGER  NOT NULL
);
