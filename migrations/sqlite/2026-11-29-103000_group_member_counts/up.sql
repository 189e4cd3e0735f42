-- A group's member count, kept by triggers on every path that adds or removes a membership
-- (PATCH, PUT, a user or group deleted through the foreign keys' cascade), so the users of a
-- group are counted in constant time however large the group (issue 13).
CREATE TABLE group_member_counts (
    group_id TEXT PRIMARY KEY NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    members  BIGINT NOT NULL DEFAULT 0
);

INSERT INTO group_member_counts (group_id, members)
    SELECT group_id, COUNT(*) FROM group_members GROUP BY group_id;

CREATE TRIGGER group_members_counted_on_insert AFTER INSERT ON group_members
BEGIN
    INSERT OR IGNORE INTO group_member_counts (group_id, members) VALUES (NEW.group_id, 0);
    UPDATE group_member_counts SET members = members + 1 WHERE group_id = NEW.group_id;
END;

CREATE TRIGGER group_members_counted_on_delete AFTER DELETE ON group_members
BEGIN
    UPDATE group_member_counts SET members = members - 1 WHERE group_id = OLD.group_id;
END;
