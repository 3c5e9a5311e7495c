-- The stored vector of one pattern, as JSON, with its dimension.
-- vecmigrate sql --file example_pattern_vector --param id=<pattern id>
SELECT p.id, vec_length(v.embedding) AS dimension, vec_to_json(v.embedding) AS vector
FROM patterns p JOIN patterns_vec v ON v.rowid = p.key
WHERE p.id = :id
