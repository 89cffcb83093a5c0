-- The log. One row per event; position is dense and in commit order (see log_head).
CREATE TABLE events (
    position        BIGINT      PRIMARY KEY,
    event_id        UUID        NOT NULL UNIQUE,
    stream_id       TEXT        NOT NULL,
    version         BIGINT      NOT NULL,
    case_id         TEXT,
    event_type      TEXT        NOT NULL,
    schema_version  INTEGER     NOT NULL,
    -- json (not jsonb) keeps the exact text that the hash chain covers.
    payload         JSON        NOT NULL,
    metadata        JSON        NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    hash            BYTEA       NOT NULL,
    UNIQUE (stream_id, version)
);
CREATE INDEX events_case ON events (case_id, position) WHERE case_id IS NOT NULL;

-- The one-row head of the log: every append locks it as its last step before inserting,
-- which serialises appends and makes positions dense and ordered by commit.
CREATE TABLE log_head (
    id        SMALLINT PRIMARY KEY CHECK (id = 1),
    position  BIGINT   NOT NULL,
    hash      BYTEA    NOT NULL
);
INSERT INTO log_head (id, position, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));

-- Append-only: the database itself refuses to change or remove an event.
CREATE FUNCTION events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'events are append-only: % refused', TG_OP USING ERRCODE = 'P0001';
END;
$$;
CREATE TRIGGER events_no_update BEFORE UPDATE OR DELETE ON events
    FOR EACH ROW EXECUTE FUNCTION events_append_only();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_append_only();
CREATE TRIGGER log_head_no_delete BEFORE DELETE ON log_head
    FOR EACH ROW EXECUTE FUNCTION events_append_only();

-- Subscriber checkpoints, written in the same transaction as the subscriber's effects.
CREATE TABLE checkpoints (
    name        TEXT        PRIMARY KEY,
    position    BIGINT      NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);

-- Read models owned by the components, updated with the events they append.
CREATE TABLE documents (
    collection  TEXT        NOT NULL,
    key         TEXT        NOT NULL,
    scope       TEXT        NOT NULL,
    body        JSONB       NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (collection, key)
);
CREATE INDEX documents_scope ON documents (collection, scope, key);

-- Deadlines: armed and cancelled with the events that start and end them.
CREATE TABLE deadlines (
    deadline_id  UUID        PRIMARY KEY,
    kind         TEXT        NOT NULL,
    case_id      TEXT,
    due_at       TIMESTAMPTZ NOT NULL,
    status       TEXT        NOT NULL CHECK (status IN ('armed', 'cancelled', 'fired')),
    event        JSON        NOT NULL,
    armed_at     TIMESTAMPTZ NOT NULL,
    settled_at   TIMESTAMPTZ
);
CREATE INDEX deadlines_due ON deadlines (due_at) WHERE status = 'armed';

-- Messages a consumer has handled (exactly-once effects for handlers that append nothing).
CREATE TABLE processed (
    consumer      TEXT        NOT NULL,
    event_id      UUID        NOT NULL,
    processed_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, event_id)
);

-- Poison messages, recorded and terminated.
CREATE TABLE dead_letters (
    id           BIGSERIAL   PRIMARY KEY,
    consumer     TEXT        NOT NULL,
    event_id     UUID,
    subject      TEXT        NOT NULL,
    deliveries   BIGINT      NOT NULL,
    error        TEXT        NOT NULL,
    payload      TEXT        NOT NULL,
    recorded_at  TIMESTAMPTZ NOT NULL
);
