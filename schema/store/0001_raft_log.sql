-- Caravan persistence adaptor, migration 1: the Raft log, term/vote and
-- snapshots of one server. The adaptor runs this inside the server's own
-- schema (search_path names only that schema), in one transaction, and records
-- it in schema_migrations.

-- Term, vote and the index of the first entry the log keeps: one row.
CREATE TABLE raft_meta (
    id          smallint PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    term        bigint NOT NULL DEFAULT 0 CHECK (term >= 0),
    vote        bigint NOT NULL DEFAULT 0 CHECK (vote >= 0),
    first_index bigint NOT NULL DEFAULT 1 CHECK (first_index >= 1)
);
INSERT INTO raft_meta DEFAULT VALUES;

-- The log entries [first_index, last]: payloads are opaque to the store.
CREATE TABLE raft_log (
    idx  bigint PRIMARY KEY CHECK (idx >= 1),
    term bigint NOT NULL CHECK (term >= 0),
    type smallint NOT NULL,
    data bytea NOT NULL
);

-- Snapshots: at most one complete one, plus the one being written.
CREATE TABLE raft_snapshot (
    id       bigint PRIMARY KEY,
    idx      bigint NOT NULL CHECK (idx >= 0),
    term     bigint NOT NULL CHECK (term >= 0),
    size     bigint NOT NULL CHECK (size >= 0),
    conf     bytea NOT NULL,
    complete boolean NOT NULL DEFAULT false
);

-- A snapshot's bytes in rows of at most 1 MiB, keyed by their offset.
CREATE TABLE raft_snapshot_chunk (
    snapshot_id bigint NOT NULL REFERENCES raft_snapshot (id) ON DELETE CASCADE,
    off         bigint NOT NULL CHECK (off >= 0),
    data        bytea NOT NULL,
    PRIMARY KEY (snapshot_id, off)
);
