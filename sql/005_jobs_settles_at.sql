-- 005: a job that finished (or was stopped) while a write it made had got no
-- answer from AWS keeps, in settles_at, until when that write may still be
-- carried out: no other job of its account is claimed before then, so a late
-- write can never land over a later job's (a lower cut-off over a higher
-- one, a delete over a new deny), even across a restart.
ALTER TABLE jobs ADD COLUMN settles_at INTEGER;
