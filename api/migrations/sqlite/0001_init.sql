-- dqc's store, SQLite flavour (the PostgreSQL file differs only in id and blob types).
-- Times are Unix milliseconds (BIGINT), JSON documents are TEXT.

CREATE TABLE events (
    event_id    TEXT PRIMARY KEY,
    cluster     TEXT NOT NULL,
    role        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    source      TEXT NOT NULL,
    received_at BIGINT NOT NULL
);

CREATE TABLE dead_letters (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    topic           TEXT NOT NULL,
    kafka_partition BIGINT,
    kafka_offset    BIGINT,
    payload         BLOB NOT NULL,
    reason          TEXT NOT NULL,
    received_at     BIGINT NOT NULL,
    UNIQUE (topic, kafka_partition, kafka_offset)
);

CREATE TABLE pairs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name     TEXT NOT NULL,
    partition_name TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    state          TEXT NOT NULL,
    generation     BIGINT NOT NULL,
    deadline_at    BIGINT,
    updated_at     BIGINT NOT NULL,
    UNIQUE (table_name, partition_name, run_id)
);
CREATE INDEX pairs_by_deadline ON pairs (deadline_at);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    pair_id     BIGINT,
    generation  BIGINT,
    origin      TEXT NOT NULL,
    table_name  TEXT NOT NULL,
    spec        TEXT NOT NULL,
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    not_before  BIGINT NOT NULL,
    lease_owner TEXT,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (pair_id, generation)
);
CREATE INDEX jobs_by_state ON jobs (state, not_before);

CREATE TABLE reports (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    pair_id        BIGINT,
    generation     BIGINT,
    job_id         BIGINT UNIQUE,
    table_name     TEXT NOT NULL,
    partition_name TEXT NOT NULL,
    run_id         TEXT NOT NULL,
    verdict        TEXT NOT NULL,
    reason         TEXT,
    report         TEXT NOT NULL,
    created_at     BIGINT NOT NULL,
    UNIQUE (pair_id, generation)
);
CREATE INDEX reports_by_table ON reports (table_name, created_at);

CREATE TABLE registered_tables (
    name       TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
