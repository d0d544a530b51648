-- Gating: the migration DAG (workflows, tasks and their edges), recorded transitions, and
-- re-run warnings.

-- One row, bumped by every change to the DAG or to a state: a transition checks the model it
-- read and commits only if the version is still the one it read.
CREATE TABLE gating_version (
    id      BIGINT PRIMARY KEY,
    version BIGINT NOT NULL
);
INSERT INTO gating_version (id, version) VALUES (1, 0);

-- state: not_migrated | dual_run | migrated
CREATE TABLE workflows (
    id         TEXT PRIMARY KEY,
    state      TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- kind: sql | spark | mapreduce | import | export | script; outputs: a JSON array of tables.
CREATE TABLE tasks (
    id         TEXT PRIMARY KEY,
    workflow   TEXT NOT NULL,
    kind       TEXT NOT NULL,
    outputs    TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tasks_by_workflow ON tasks (workflow);

-- task reads from upstream (in any workflow).
CREATE TABLE task_edges (
    task     TEXT NOT NULL,
    upstream TEXT NOT NULL,
    PRIMARY KEY (task, upstream)
);
CREATE INDEX task_edges_by_upstream ON task_edges (upstream);

-- Every transition made: the unit that moved, who moved it, and the evidence it was given.
CREATE TABLE transitions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    workflow   TEXT NOT NULL,
    unit       TEXT NOT NULL,
    from_state TEXT NOT NULL,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    evidence   TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
-- The workflows each transition moved (its unit), to find a workflow's transitions.
CREATE TABLE transition_members (
    transition_id BIGINT NOT NULL,
    workflow      TEXT NOT NULL,
    PRIMARY KEY (workflow, transition_id)
);

-- A task re-ran on the baseline while downstream tasks ran on the candidate only.
CREATE TABLE rerun_warnings (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    task       TEXT NOT NULL,
    run_id     TEXT NOT NULL,
    attempt    BIGINT NOT NULL,
    stale      TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
