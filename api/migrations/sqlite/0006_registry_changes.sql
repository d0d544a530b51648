-- Every change to the table registry: who, when, the registration before and after (JSON; NULL
-- before a first registration and after a removal). A key or an ignored column changed is what
-- a diff's verdict rests on, so it is kept, like gating transitions.
CREATE TABLE registry_changes (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    table_name TEXT NOT NULL,
    actor      TEXT NOT NULL,
    before     TEXT,
    after      TEXT,
    created_at BIGINT NOT NULL
);
CREATE INDEX registry_changes_by_table ON registry_changes (table_name, id);
