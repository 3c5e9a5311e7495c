-- Keys written since the last index save (a JSON array); cleared when the index is saved.
INSERT OR IGNORE INTO vecmigrate_index_pending(key) SELECT value FROM json_each(:keys)
