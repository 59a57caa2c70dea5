-- 007: revocations of people (issue 12). A revocation names groups, people
-- (subjects: the values their sessions carry as aws:SourceIdentity or a
-- principal tag, targeted.principal_tag), or both.
-- groups_cutoff: the cut-off the groups' deny uses, the event time plus
-- revoke.hold_seconds as configured when it was recorded (NULL: cutoff).
-- subjects_cutoff: the people's cut-off, the event time plus the
-- provider's ID token lifetime (NULL when the revocation names no one).
ALTER TABLE revocations ADD COLUMN groups_cutoff INTEGER;
ALTER TABLE revocations ADD COLUMN subjects_cutoff INTEGER;

CREATE TABLE revocation_subjects (
  revocation_seq INTEGER NOT NULL REFERENCES revocations (seq) ON DELETE CASCADE,
  position       INTEGER NOT NULL,
  subject        TEXT    NOT NULL,
  PRIMARY KEY (revocation_seq, position)
) WITHOUT ROWID;
CREATE INDEX revocation_subjects_by_subject ON revocation_subjects (subject, revocation_seq);
