-- The SQL contract query: the 10 patterns nearest to pattern :id, exact, through sqlite-vec.
-- vecmigrate sql --file example_knn --param id=<pattern id>
SELECT p.id, v.distance
FROM patterns_vec v JOIN patterns p ON p.key = v.rowid
WHERE v.embedding MATCH (SELECT embedding FROM patterns_vec
                         WHERE rowid = (SELECT key FROM patterns WHERE id = :id))
  AND k = 10
ORDER BY v.distance
