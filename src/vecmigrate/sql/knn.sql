-- Exact KNN over the vec0 mirror. {filters} is filled only with fixed clauses on the vec0
-- metadata columns (e.g. "AND type = :type"), so the filter applies before the top-k.
SELECT v.rowid AS key, v.distance AS distance
FROM patterns_vec v
WHERE v.embedding MATCH :query AND k = :k {filters}
ORDER BY v.distance
