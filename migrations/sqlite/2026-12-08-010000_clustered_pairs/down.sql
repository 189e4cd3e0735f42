-- Back to tables with a rowid and an automatic index of their key.

CREATE TABLE match_values_rowid (
    tenant_id TEXT NOT NULL,
    attribute TEXT NOT NULL,
    value     TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (tenant_id, attribute, value, user_id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO match_values_rowid (tenant_id, attribute, value, user_id)
SELECT tenant_id, attribute, value, user_id FROM match_values;
DROP TABLE match_values;
ALTER TABLE match_values_rowid RENAME TO match_values;
CREATE INDEX match_values_user ON match_values (user_id);

CREATE TABLE group_members_rowid (
    tenant_id TEXT NOT NULL,
    group_id  TEXT NOT NULL,
    user_id   TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id),
    FOREIGN KEY (tenant_id, group_id) REFERENCES groups (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES users (tenant_id, id) ON DELETE CASCADE
);
INSERT INTO group_members_rowid (tenant_id, group_id, user_id)
SELECT tenant_id, group_id, user_id FROM group_members;
DROP TABLE group_members;
ALTER TABLE group_members_rowid RENAME TO group_members;
CREATE INDEX group_members_user ON group_members (user_id);
CREATE TRIGGER group_members_counted_on_insert AFTER INSERT ON group_members
BEGIN
    INSERT OR IGNORE INTO group_member_counts (group_id, members) VALUES (NEW.group_id, 0);
    UPDATE group_member_counts SET members = members + 1 WHERE group_id = NEW.group_id;
END;
CREATE TRIGGER group_members_counted_on_delete AFTER DELETE ON group_members
BEGIN
    UPDATE group_member_counts SET members = members - 1 WHERE group_id = OLD.group_id;
END;
