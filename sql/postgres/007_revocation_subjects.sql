-- 007 (PostgreSQL): revocations of people (as sql/007_revocation_subjects.sql).
ALTER TABLE revocations ADD COLUMN groups_cutoff BIGINT;
ALTER TABLE revocations ADD COLUMN subjects_cutoff BIGINT;

CREATE TABLE revocation_subjects (
  revocation_seq BIGINT  NOT NULL REFERENCES revocations (seq) ON DELETE CASCADE,
  position       BIGINT  NOT NULL,
  subject        TEXT    COLLATE "C" NOT NULL,
  PRIMARY KEY (revocation_seq, position)
);
CREATE INDEX revocation_subjects_by_subject ON revocation_subjects (subject, revocation_seq);
