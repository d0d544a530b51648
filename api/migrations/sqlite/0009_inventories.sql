-- Inventories run by the service (POST /api/v1/inventories): queued, then running under a lease
-- like a job, then done, failed or cancelled. `spec` is the request as resolved (both sides,
-- filters, level); `report` the finished inventory's summary and tables, without their
-- partitions, which are rows of their own, written as each partition finishes: an inventory
-- taken over after its instance died resumes from them instead of reading them again.
CREATE TABLE inventories (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    spec             TEXT NOT NULL,
    requested_by     TEXT NOT NULL,
    state            TEXT NOT NULL,
    attempts         BIGINT NOT NULL,
    lease_owner      TEXT,
    lease_until      BIGINT,
    tables_total     BIGINT,
    partitions_total BIGINT,
    partitions_done  BIGINT NOT NULL,
    verdict          TEXT,
    error            TEXT,
    report           TEXT,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    finished_at      BIGINT
);
CREATE INDEX inventories_by_state ON inventories (state);

CREATE TABLE inventory_partitions (
    inventory_id   BIGINT NOT NULL,
    table_name     TEXT NOT NULL,
    partition_name TEXT NOT NULL,
    verdict        TEXT NOT NULL,
    result         TEXT NOT NULL,
    PRIMARY KEY (inventory_id, table_name, partition_name)
);
