DROP TABLE match_attributes;
DROP TABLE match_values;
