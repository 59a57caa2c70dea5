-- 006 (PostgreSQL): revocations from identity providers' events (issue 9)
-- and the groups a provider's directory last told (as
-- sql/006_event_sources.sql).
ALTER TABLE revocations ADD COLUMN event_subject TEXT COLLATE "C";
ALTER TABLE revocations ADD COLUMN rule TEXT COLLATE "C";
ALTER TABLE revocations ADD COLUMN note TEXT COLLATE "C";
CREATE INDEX revocations_by_source ON revocations (source, seq);

CREATE TABLE user_groups (
  source     TEXT    COLLATE "C" NOT NULL,     -- the configured source's name
  subject    TEXT    COLLATE "C" NOT NULL,     -- the provider's user id
  groups     TEXT    COLLATE "C" NOT NULL,     -- JSON array of strings
  updated_at BIGINT  NOT NULL,                 -- Unix seconds: when they were learned
  PRIMARY KEY (source, subject)
);
