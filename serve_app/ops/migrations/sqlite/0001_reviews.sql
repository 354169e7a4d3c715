-- Review queue and append-only audit log (SQLite). Applied once, in one transaction.
CREATE TABLE reviews (
    id            TEXT PRIMARY KEY,
    content_id    TEXT NOT NULL,
    author_id     TEXT NOT NULL,
    platform      TEXT NOT NULL,
    policy        TEXT NOT NULL,
    model_version TEXT NOT NULL,
    decision      TEXT NOT NULL,
    text          TEXT,
    image_base64  TEXT,
    scores        TEXT NOT NULL,            -- JSON object: category -> score
    flagged       TEXT NOT NULL,            -- JSON list of flagged categories
    reasons       TEXT NOT NULL,            -- JSON list of the policy's reasons
    created_at    REAL NOT NULL,            -- seconds since the epoch
    status        TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'resolved')),
    claimed_by    TEXT,
    lease_until   REAL,
    resolution    TEXT CHECK (resolution IN ('approve', 'remove', 'label')),
    labels        TEXT,                     -- JSON object: category -> 0..1
    resolved_by   TEXT,
    resolved_at   REAL
);
CREATE INDEX reviews_status_created ON reviews (status, created_at);

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         REAL NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    content_id TEXT,
    review_id  TEXT,
    detail     TEXT NOT NULL                -- JSON object
);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
