-- 006: revocations from identity providers' events (issue 9). Each keeps
-- whom the event was about, the rule that fired, and a note (e.g. a failed
-- lookup whose fallback groups were used); NULL for revocation documents.
-- Listing by source (GET /v1/revocations?source=) walks its own index.
-- user_groups keeps a user's groups as the provider's directory last told
-- them (a JSON array of strings), so a deleted user's last known groups
-- still count.
ALTER TABLE revocations ADD COLUMN event_subject TEXT;
ALTER TABLE revocations ADD COLUMN rule TEXT;
ALTER TABLE revocations ADD COLUMN note TEXT;
CREATE INDEX revocations_by_source ON revocations (source, seq);

CREATE TABLE user_groups (
  source     TEXT    NOT NULL,                 -- the configured source's name
  subject    TEXT    NOT NULL,                 -- the provider's user id
  groups     TEXT    NOT NULL,                 -- JSON array of strings
  updated_at INTEGER NOT NULL,                 -- Unix seconds: when they were learned
  PRIMARY KEY (source, subject)
) WITHOUT ROWID;
