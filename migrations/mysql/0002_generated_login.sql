-- The admin login generated when no [auth] users are configured, one per
-- cluster: the first node to start stores the argon2 hash of the password
-- it generated (never the password); every other node uses it.
CREATE TABLE IF NOT EXISTS `{prefix}generated_login` (
    name            VARCHAR(64)   NOT NULL,
    password_hash   VARCHAR(255)  NOT NULL,
    created_by      VARCHAR(255)  NOT NULL,
    created_at      BIGINT        NOT NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
