-- 004 (PostgreSQL): a revocation with no account to apply it in is
-- 'recorded' (sql/004_revocation_recorded.sql says why). PostgreSQL changes
-- a CHECK constraint in place, so no table is rebuilt; 001 named the
-- constraint so that this can drop it by name.
ALTER TABLE revocations DROP CONSTRAINT revocations_state_check;
ALTER TABLE revocations ADD CONSTRAINT revocations_state_check
  CHECK (state IN ('pending', 'applying', 'applied', 'partial', 'failed', 'cleaned', 'recorded'));
UPDATE revocations SET state = 'recorded'
 WHERE state = 'pending' AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.revocation_seq = revocations.seq);
