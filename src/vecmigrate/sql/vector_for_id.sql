-- The stored vector of one pattern, by its id.
SELECT v.embedding FROM patterns_vec v JOIN patterns p ON p.key = v.rowid WHERE p.id = :id
