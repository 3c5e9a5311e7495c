-- Dual-write failures of the secondary store that `vecmigrate reconcile` has not repaired yet.
SELECT jid, operation, pattern_id, error, datetime(at / 1000, 'unixepoch') AS failed_at
FROM dual_write_journal WHERE resolved_at IS NULL ORDER BY jid
