-- A rule given by display name binds to the group's stable id as soon as a group matches it
-- (when the rule is made, or when a group of that name is first pushed), so that renaming
-- the group in the IdP keeps its members' roles, and renaming another group to the mapped
-- name grants nothing. `follow_name` keeps matching by name on every change (an explicit
-- choice). Existing rules bind to the one group they match now; a rule matching several
-- groups (a tenant allowing duplicate names) keeps following the name, as before.
ALTER TABLE role_mappings ADD COLUMN bound_group_id TEXT;
ALTER TABLE role_mappings ADD COLUMN follow_name BOOLEAN NOT NULL DEFAULT FALSE;

UPDATE role_mappings SET follow_name = TRUE
WHERE match_by = 'displayName'
  AND (SELECT COUNT(*) FROM groups g
       WHERE g.tenant_id = role_mappings.tenant_id
         AND g.display_name_key = role_mappings.match_key) > 1;

UPDATE role_mappings SET bound_group_id = (
    SELECT g.id FROM groups g
    WHERE g.tenant_id = role_mappings.tenant_id AND g.display_name_key = role_mappings.match_key)
WHERE match_by = 'displayName' AND follow_name = FALSE
  AND (SELECT COUNT(*) FROM groups g
       WHERE g.tenant_id = role_mappings.tenant_id
         AND g.display_name_key = role_mappings.match_key) = 1;

CREATE INDEX role_mappings_bound_group ON role_mappings (tenant_id, bound_group_id);
