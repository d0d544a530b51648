-- Notifications outbox, report exports, cancelled jobs.

-- A report is routed once: its outbox rows are inserted and routed set to 1 in one transaction.
ALTER TABLE reports ADD COLUMN routed BIGINT NOT NULL DEFAULT 0;
-- Where the report's differing rows were exported (Parquet), when they were.
ALTER TABLE reports ADD COLUMN export_path TEXT;
CREATE INDEX reports_unrouted ON reports (routed);

-- One row per report and sink: sent once, retried with backoff while it fails.
-- state: pending | sending (held under a lease) | sent | failed (given up).
CREATE TABLE notifications (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id   BIGINT NOT NULL,
    sink        TEXT NOT NULL,
    digest_day  TEXT,
    state       TEXT NOT NULL,
    attempts    BIGINT NOT NULL,
    not_before  BIGINT NOT NULL,
    lease_until BIGINT,
    last_error  TEXT,
    created_at  BIGINT NOT NULL,
    sent_at     BIGINT,
    UNIQUE (report_id, sink)
);
CREATE INDEX notifications_due ON notifications (state, not_before);
