-- 001: revocations, their groups, idempotency keys.
CREATE TABLE revocations (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT    NOT NULL UNIQUE,          -- public id (UUID v4)
  source          TEXT    NOT NULL,                 -- document, document-jwt, auth0, ...
  source_event_id TEXT,                             -- the sender's event id, unique per source
  issuer          TEXT    NOT NULL,                 -- who asked: token iss
  subject         TEXT    NOT NULL DEFAULT '',      -- token sub
  token_id        TEXT    NOT NULL DEFAULT '',      -- token jti
  action          TEXT    NOT NULL CHECK (action IN ('revoke', 'cleanup')),
  cutoff          INTEGER NOT NULL,                 -- Unix seconds, UTC
  time_given      TEXT,                             -- the "time" as sent
  accounts        TEXT,                             -- JSON array, NULL: every configured account
  reason          TEXT,
  state           TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'applying', 'applied', 'partial', 'failed', 'cleaned')),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (source, source_event_id)
);
CREATE INDEX revocations_by_state ON revocations (state, seq);

CREATE TABLE revocation_groups (
  revocation_seq INTEGER NOT NULL REFERENCES revocations (seq) ON DELETE CASCADE,
  position       INTEGER NOT NULL,
  group_name     TEXT    NOT NULL,
  PRIMARY KEY (revocation_seq, position)
) WITHOUT ROWID;
CREATE INDEX revocation_groups_by_name ON revocation_groups (group_name, revocation_seq);

CREATE TABLE idempotency_keys (
  issuer         TEXT    NOT NULL,
  subject        TEXT    NOT NULL,
  key            TEXT    NOT NULL,
  request_hash   TEXT    NOT NULL,
  revocation_seq INTEGER NOT NULL REFERENCES revocations (seq),
  response       TEXT    NOT NULL,                -- the first answer, returned again on retry
  created_at     INTEGER NOT NULL,
  PRIMARY KEY (issuer, subject, key)
) WITHOUT ROWID;

CREATE TABLE service_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
