-- Search documents: each resource's attributes with case-insensitive strings folded (NFKC and
-- lower case, by the application) and date-times in one fixed format, so filters on any
-- attribute compare JSON values exactly and both backends agree.
ALTER TABLE users ADD COLUMN search TEXT NOT NULL DEFAULT '{}';
ALTER TABLE groups ADD COLUMN search TEXT NOT NULL DEFAULT '{}';
