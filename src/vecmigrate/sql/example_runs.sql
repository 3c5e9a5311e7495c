-- The migration ledger: every run and how many batches it committed.
SELECT r.run_id, r.schema, r.source, r.status, r.total_rows,
       count(b.batch_no) AS batches, coalesce(sum(b.written), 0) AS written,
       coalesce(sum(b.quarantined), 0) AS quarantined
FROM vecmigrate_runs r LEFT JOIN vecmigrate_batches b USING (run_id)
GROUP BY r.run_id ORDER BY r.run_id
