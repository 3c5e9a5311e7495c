-- 10 nearest patterns of one type, filtered inside vec0 (before the top-k, so 10 come back
-- whenever 10 exist). vecmigrate sql --file example_filtered_knn --param id=<id> --param type=<type>
SELECT p.id, p.type, v.distance
FROM patterns_vec v JOIN patterns p ON p.key = v.rowid
WHERE v.embedding MATCH (SELECT embedding FROM patterns_vec
                         WHERE rowid = (SELECT key FROM patterns WHERE id = :id))
  AND k = 10
  AND v.type = :type
ORDER BY v.distance
