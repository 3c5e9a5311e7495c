-- Remove the vec0 row of one key (run once per key: vec0 finds a rowid by equality only;
-- `rowid IN (...)` would scan every chunk of the table).
DELETE FROM patterns_vec WHERE rowid = :key
