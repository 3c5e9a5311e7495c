-- The change log: the latest changes to patterns, with where each came from
-- (migrate, sync <source>, store or a store's own label, rollback, reconcile).
SELECT c.seq, c.op, c.pattern_id, c.origin, datetime(c.at / 1000, 'unixepoch') AS at_utc
FROM vecmigrate_changes c ORDER BY c.seq DESC LIMIT 20
