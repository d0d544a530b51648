-- Events are unique per cluster: schedulers that build event ids the same way on both clusters
-- must not lose the candidate's event. Existing rows are kept.
ALTER TABLE events DROP CONSTRAINT events_pkey;
ALTER TABLE events ADD PRIMARY KEY (cluster, event_id);
