-- Remove the vec0 rows of the given keys (a JSON array), before they are written again.
DELETE FROM patterns_vec WHERE rowid IN (SELECT value FROM json_each(:keys))
