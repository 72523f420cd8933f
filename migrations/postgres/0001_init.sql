-- Baton schema, PostgreSQL. `{prefix}` is replaced by database.table_prefix.
-- Runs inside one transaction that holds an advisory lock (see
-- src/store/postgres.rs), so nodes starting together apply it once.

-- Persistent messages (ActiveMQ's MSGS).
CREATE TABLE IF NOT EXISTS {prefix}msgs (
    id              BIGINT   PRIMARY KEY,
    destination     TEXT     NOT NULL,
    priority        SMALLINT NOT NULL DEFAULT 4,
    expires         BIGINT   NOT NULL DEFAULT 0,
    scheduled       BIGINT   NOT NULL DEFAULT 0,
    producer_id     TEXT,
    producer_seq    BIGINT,
    redeliveries    INTEGER  NOT NULL DEFAULT 0,
    headers         TEXT     NOT NULL,
    body            BYTEA    NOT NULL
);
CREATE INDEX IF NOT EXISTS {prefix}msgs_destination ON {prefix}msgs (destination, priority, id);

-- Durable topic subscriptions and the last id each acknowledged (ActiveMQ's ACKS).
CREATE TABLE IF NOT EXISTS {prefix}acks (
    client_id       TEXT     NOT NULL,
    subscription    TEXT     NOT NULL,
    destination     TEXT     NOT NULL,
    selector        TEXT,
    last_acked_id   BIGINT   NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, subscription)
);

-- The election row (ActiveMQ's LOCK), one per cluster.
CREATE TABLE IF NOT EXISTS {prefix}lock (
    name            TEXT     PRIMARY KEY,
    holder          TEXT,
    epoch           BIGINT   NOT NULL DEFAULT 0,
    lease_expires   BIGINT   NOT NULL DEFAULT 0,
    session_held    BOOLEAN  NOT NULL DEFAULT FALSE,
    stomp_addr      TEXT,
    admin_addr      TEXT
);
INSERT INTO {prefix}lock (name, holder, epoch, lease_expires) VALUES ('baton', NULL, 0, 0)
    ON CONFLICT (name) DO NOTHING;

-- Every node of the cluster and its last heartbeat.
CREATE TABLE IF NOT EXISTS {prefix}nodes (
    node_id         TEXT     PRIMARY KEY,
    stomp_addr      TEXT,
    admin_addr      TEXT,
    role            TEXT     NOT NULL,
    started_at      BIGINT   NOT NULL,
    last_seen       BIGINT   NOT NULL
);

-- Last sequence per producer, for duplicate detection across failover.
CREATE TABLE IF NOT EXISTS {prefix}producers (
    producer_id     TEXT     PRIMARY KEY,
    last_seq        BIGINT   NOT NULL,
    updated_at      BIGINT   NOT NULL
);
