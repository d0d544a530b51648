-- Events are unique per cluster: schedulers that build event ids the same way on both clusters
-- must not lose the candidate's event. Existing rows are kept (SQLite cannot change a primary
-- key in place, so the table is copied).
CREATE TABLE events_per_cluster (
    event_id    TEXT NOT NULL,
    cluster     TEXT NOT NULL,
    role        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    source      TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    PRIMARY KEY (cluster, event_id)
);
INSERT INTO events_per_cluster (event_id, cluster, role, payload, source, received_at)
    SELECT event_id, cluster, role, payload, source, received_at FROM events;
DROP TABLE events;
ALTER TABLE events_per_cluster RENAME TO events;
