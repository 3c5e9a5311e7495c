-- Rows that could not be migrated, with the reason, newest run first.
SELECT run_id, source_table, source_rowid, pattern_id, reason
FROM quarantine ORDER BY run_id DESC, qid
