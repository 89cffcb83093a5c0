-- Document keys are ordered as bytes whatever the database's collation: read models (the
-- follow-up worklist, the alert inbox) rely on key order for paging and ranking, and a
-- linguistic collation (en_US.UTF-8 ignores punctuation at first level) would reorder them.
ALTER TABLE documents ALTER COLUMN key TYPE TEXT COLLATE "C";
ALTER TABLE documents ALTER COLUMN scope TYPE TEXT COLLATE "C";
