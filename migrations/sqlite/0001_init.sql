-- Baton schema, SQLite. `{prefix}` is replaced by database.table_prefix.

-- Persistent messages (ActiveMQ's MSGS).
CREATE TABLE IF NOT EXISTS {prefix}msgs (
    id              INTEGER PRIMARY KEY,
    destination     TEXT    NOT NULL,
    priority        INTEGER NOT NULL DEFAULT 4,
    expires         INTEGER NOT NULL DEFAULT 0,
    scheduled       INTEGER NOT NULL DEFAULT 0,
    producer_id     TEXT,
    producer_seq    INTEGER,
    redeliveries    INTEGER NOT NULL DEFAULT 0,
    headers         TEXT    NOT NULL,
    body            BLOB    NOT NULL
);
CREATE INDEX IF NOT EXISTS {prefix}msgs_destination ON {prefix}msgs (destination, priority, id);

-- Durable topic subscriptions and the last id each acknowledged (ActiveMQ's ACKS).
CREATE TABLE IF NOT EXISTS {prefix}acks (
    client_id       TEXT    NOT NULL,
    subscription    TEXT    NOT NULL,
    destination     TEXT    NOT NULL,
    selector        TEXT,
    last_acked_id   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (client_id, subscription)
);

-- The election row (ActiveMQ's LOCK), one per cluster.
CREATE TABLE IF NOT EXISTS {prefix}lock (
    name            TEXT    PRIMARY KEY,
    holder          TEXT,
    epoch           INTEGER NOT NULL DEFAULT 0,
    lease_expires   INTEGER NOT NULL DEFAULT 0,
    session_held    INTEGER NOT NULL DEFAULT 0,
    stomp_addr      TEXT,
    admin_addr      TEXT
);
INSERT OR IGNORE INTO {prefix}lock (name, holder, epoch, lease_expires) VALUES ('baton', NULL, 0, 0);

-- Every node of the cluster and its last heartbeat.
CREATE TABLE IF NOT EXISTS {prefix}nodes (
    node_id         TEXT    PRIMARY KEY,
    stomp_addr      TEXT,
    admin_addr      TEXT,
    role            TEXT    NOT NULL,
    started_at      INTEGER NOT NULL,
    last_seen       INTEGER NOT NULL
);

-- Last sequence per producer, for duplicate detection across failover.
CREATE TABLE IF NOT EXISTS {prefix}producers (
    producer_id     TEXT    PRIMARY KEY,
    last_seq        INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
