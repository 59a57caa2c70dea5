-- 003 (PostgreSQL): at most one running job per account (claims look this up).
CREATE INDEX jobs_by_account ON jobs (account, state, lease_expires);
