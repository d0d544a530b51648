-- Web sessions, opened by signing in with a token on the sign-in page. The browser holds the
-- session's random id; the store holds only its SHA-256 digest, and the token's name (not the
-- token), so that a token removed from the configuration ends its sessions.
CREATE TABLE sessions (
    digest TEXT PRIMARY KEY,
    token_name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sessions_expiry ON sessions (expires_at);

-- Keys the service makes once and keeps: the key that signs the read-only report links of
-- notifications (`report_links`), shared by every instance on one store.
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
