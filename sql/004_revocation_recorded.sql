-- 004: a revocation with no account to apply it in (no aws.accounts
-- configured when it came) is 'recorded': kept for the record, never worked
-- on. SQLite cannot change a CHECK constraint in place, so the table is
-- rebuilt (lang_altertable.html, "other kinds of table schema changes"):
-- foreign keys are off while migrations run and checked before the COMMIT.
CREATE TABLE revocations_new (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  id              TEXT    NOT NULL UNIQUE,
  source          TEXT    NOT NULL,
  source_event_id TEXT,
  issuer          TEXT    NOT NULL,
  subject         TEXT    NOT NULL DEFAULT '',
  token_id        TEXT    NOT NULL DEFAULT '',
  action          TEXT    NOT NULL CHECK (action IN ('revoke', 'cleanup')),
  cutoff          INTEGER NOT NULL,
  time_given      TEXT,
  accounts        TEXT,
  reason          TEXT,
  state           TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'applying', 'applied', 'partial', 'failed',
                                   'cleaned', 'recorded')),
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (source, source_event_id)
);
INSERT INTO revocations_new SELECT * FROM revocations;
DROP TABLE revocations;
ALTER TABLE revocations_new RENAME TO revocations;
CREATE INDEX revocations_by_state ON revocations (state, seq);
UPDATE revocations SET state = 'recorded'
 WHERE state = 'pending' AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.revocation_seq = revocations.seq);
