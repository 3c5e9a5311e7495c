-- Provenance: each source the target was fed from, with its patterns and quarantined rows,
-- and the source row behind one pattern (:id).
SELECT s.source_id, s.path, s.layout, s.tables,
       count(l.key) AS patterns, count(*) - count(l.key) AS quarantined,
       datetime(s.snapshot_at / 1000, 'unixepoch') AS last_read_utc,
       (SELECT l2.source_table || ' rowid ' || l2.source_rowid FROM vecmigrate_lineage l2
          JOIN patterns p ON p.key = l2.key WHERE p.id = :id AND l2.source_id = s.source_id) AS row_of_id
FROM vecmigrate_sources s LEFT JOIN vecmigrate_lineage l USING (source_id)
GROUP BY s.source_id ORDER BY s.source_id
