-- One vector into the vec0 mirror (vec0 has no upsert: delete_vectors runs first for updates).
INSERT INTO patterns_vec (rowid, embedding, type, domain, framework, kind)
VALUES (:key, :embedding, :type, :domain, :framework, :kind)
