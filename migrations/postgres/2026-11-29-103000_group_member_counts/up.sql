-- A group's member count, kept by a trigger on every path that adds or removes a membership
-- (PATCH, PUT, a user or group deleted through the foreign keys' cascade), so the users of a
-- group are counted in constant time however large the group (issue 13).
CREATE TABLE group_member_counts (
    group_id TEXT PRIMARY KEY NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    members  BIGINT NOT NULL DEFAULT 0
);

INSERT INTO group_member_counts (group_id, members)
    SELECT group_id, COUNT(*) FROM group_members GROUP BY group_id;

CREATE FUNCTION count_group_members() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO group_member_counts (group_id, members) VALUES (NEW.group_id, 1)
            ON CONFLICT (group_id) DO UPDATE SET members = group_member_counts.members + 1;
        RETURN NEW;
    END IF;
    UPDATE group_member_counts SET members = members - 1 WHERE group_id = OLD.group_id;
    RETURN OLD;
END
$$;

CREATE TRIGGER group_members_counted AFTER INSERT OR DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION count_group_members();
