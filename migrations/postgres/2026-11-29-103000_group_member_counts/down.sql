DROP TRIGGER group_members_counted ON group_members;
DROP FUNCTION count_group_members();
DROP TABLE group_member_counts;
