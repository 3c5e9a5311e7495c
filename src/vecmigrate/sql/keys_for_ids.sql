-- Existing keys of the given pattern ids (a JSON array of text).
SELECT id, key FROM patterns WHERE id IN (SELECT value FROM json_each(:ids))
