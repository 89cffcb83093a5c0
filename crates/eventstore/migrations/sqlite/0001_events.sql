-- The log (see the PostgreSQL migration for the design). Times are µs since the epoch;
-- UUIDs are text; payload and metadata are the exact JSON text the hash chain covers.
CREATE TABLE events (
    position        INTEGER PRIMARY KEY,
    event_id        TEXT    NOT NULL UNIQUE,
    stream_id       TEXT    NOT NULL,
    version         INTEGER NOT NULL,
    case_id         TEXT,
    event_type      TEXT    NOT NULL,
    schema_version  INTEGER NOT NULL,
    payload         TEXT    NOT NULL,
    metadata        TEXT    NOT NULL,
    occurred_at     INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    hash            BLOB    NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE INDEX events_case ON events (case_id, position) WHERE case_id IS NOT NULL;

CREATE TABLE log_head (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    position  INTEGER NOT NULL,
    hash      BLOB    NOT NULL
);
INSERT INTO log_head (id, position, hash) VALUES (1, 0, zeroblob(32));

CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: UPDATE refused'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only: DELETE refused'); END;
CREATE TRIGGER log_head_no_delete BEFORE DELETE ON log_head
BEGIN SELECT RAISE(ABORT, 'the log head cannot be deleted'); END;

CREATE TABLE checkpoints (
    name        TEXT    PRIMARY KEY,
    position    INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE documents (
    collection  TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    body        TEXT    NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (collection, key)
);
CREATE INDEX documents_scope ON documents (collection, scope, key);

CREATE TABLE deadlines (
    deadline_id  TEXT    PRIMARY KEY,
    kind         TEXT    NOT NULL,
    case_id      TEXT,
    due_at       INTEGER NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('armed', 'cancelled', 'fired')),
    event        TEXT    NOT NULL,
    armed_at     INTEGER NOT NULL,
    settled_at   INTEGER
);
CREATE INDEX deadlines_due ON deadlines (due_at) WHERE status = 'armed';

CREATE TABLE processed (
    consumer      TEXT    NOT NULL,
    event_id      TEXT    NOT NULL,
    processed_at  INTEGER NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE dead_letters (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    consumer     TEXT    NOT NULL,
    event_id     TEXT,
    subject      TEXT    NOT NULL,
    deliveries   INTEGER NOT NULL,
    error        TEXT    NOT NULL,
    payload      TEXT    NOT NULL,
    recorded_at  INTEGER NOT NULL
);
