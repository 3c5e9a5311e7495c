-- Every vector of the mirror, in key order (rebuilding the USearch index from it).
SELECT rowid, embedding FROM patterns_vec ORDER BY rowid
