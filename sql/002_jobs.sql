-- 002: the job table (replacing the original design's CloudWatch rules) and
-- what was done to each role.
CREATE TABLE jobs (
  id             INTEGER PRIMARY KEY AUTOINCREMENT,
  revocation_seq INTEGER NOT NULL REFERENCES revocations (seq),
  kind           TEXT    NOT NULL CHECK (kind IN ('apply', 'cleanup')),
  account        TEXT    NOT NULL,
  run_at         INTEGER NOT NULL,               -- Unix seconds: not before
  state          TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (state IN ('pending', 'running', 'done', 'failed')),
  attempts       INTEGER NOT NULL DEFAULT 0,
  lease_owner    TEXT,                           -- which worker holds it
  lease_expires  INTEGER,                        -- claimable again after this
  last_error     TEXT,
  created_at     INTEGER NOT NULL,
  updated_at     INTEGER NOT NULL,
  UNIQUE (revocation_seq, kind, account)
);
CREATE INDEX jobs_due ON jobs (state, run_at, id);

CREATE TABLE role_results (
  revocation_seq INTEGER NOT NULL REFERENCES revocations (seq),
  account        TEXT    NOT NULL,
  role_arn       TEXT    NOT NULL,
  kind           TEXT    NOT NULL,               -- apply, cleanup
  outcome        TEXT    NOT NULL,               -- denied, unchanged, deleted, not-due, failed, ...
  cutoff         INTEGER,                        -- the cut-off in force afterwards
  due            INTEGER,                        -- cleanup: when it may go
  request_id     TEXT,                           -- AWS's id of the write
  error          TEXT,
  at             INTEGER NOT NULL,
  PRIMARY KEY (revocation_seq, account, role_arn, kind)
) WITHOUT ROWID;
