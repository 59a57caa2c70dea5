-- 005 (PostgreSQL): until when a write a job made without an answer from AWS
-- may still be carried out (sql/005_jobs_settles_at.sql says why).
ALTER TABLE jobs ADD COLUMN settles_at BIGINT;
