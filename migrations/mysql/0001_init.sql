-- Baton schema, MySQL 5.7+/8 and MariaDB 10.3+ (InnoDB). `{prefix}` is
-- replaced by database.table_prefix. DDL commits implicitly, so every
-- statement is idempotent (IF NOT EXISTS / INSERT IGNORE) and the runner
-- (src/store/mysql.rs) serialises nodes with GET_LOCK and executes the
-- statements one by one. Keep `;` only at statement ends.
--
-- Text is utf8mb4 with the binary collation: destination names, node ids
-- and producer ids are case- and accent-sensitive, as everywhere else.
-- Indexed text is VARCHAR (InnoDB index keys are at most 3072 bytes).

-- Persistent messages (ActiveMQ's MSGS).
CREATE TABLE IF NOT EXISTS `{prefix}msgs` (
    id              BIGINT        NOT NULL,
    destination     VARCHAR(512)  NOT NULL,
    priority        SMALLINT      NOT NULL DEFAULT 4,
    expires         BIGINT        NOT NULL DEFAULT 0,
    scheduled       BIGINT        NOT NULL DEFAULT 0,
    producer_id     VARCHAR(255)  NULL,
    producer_seq    BIGINT        NULL,
    redeliveries    INT           NOT NULL DEFAULT 0,
    headers         MEDIUMTEXT    NOT NULL,
    body            LONGBLOB      NOT NULL,
    PRIMARY KEY (id),
    INDEX `{prefix}msgs_destination` (destination, priority, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Durable topic subscriptions and the last id each acknowledged (ActiveMQ's ACKS).
CREATE TABLE IF NOT EXISTS `{prefix}acks` (
    client_id       VARCHAR(255)  NOT NULL,
    subscription    VARCHAR(255)  NOT NULL,
    destination     VARCHAR(512)  NOT NULL,
    selector        TEXT          NULL,
    last_acked_id   BIGINT        NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, subscription)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- The election row (ActiveMQ's LOCK), one per cluster.
CREATE TABLE IF NOT EXISTS `{prefix}lock` (
    name            VARCHAR(64)   NOT NULL,
    holder          VARCHAR(255)  NULL,
    epoch           BIGINT        NOT NULL DEFAULT 0,
    lease_expires   BIGINT        NOT NULL DEFAULT 0,
    session_held    BOOLEAN       NOT NULL DEFAULT FALSE,
    stomp_addr      VARCHAR(255)  NULL,
    admin_addr      VARCHAR(255)  NULL,
    PRIMARY KEY (name)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

INSERT IGNORE INTO `{prefix}lock` (name, holder, epoch, lease_expires) VALUES ('baton', NULL, 0, 0);

-- Every node of the cluster and its last heartbeat.
CREATE TABLE IF NOT EXISTS `{prefix}nodes` (
    node_id         VARCHAR(255)  NOT NULL,
    stomp_addr      VARCHAR(255)  NULL,
    admin_addr      VARCHAR(255)  NULL,
    role            VARCHAR(32)   NOT NULL,
    started_at      BIGINT        NOT NULL,
    last_seen       BIGINT        NOT NULL,
    PRIMARY KEY (node_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- Last sequence per producer, for duplicate detection across failover.
CREATE TABLE IF NOT EXISTS `{prefix}producers` (
    producer_id     VARCHAR(255)  NOT NULL,
    last_seq        BIGINT        NOT NULL,
    updated_at      BIGINT        NOT NULL,
    PRIMARY KEY (producer_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;
