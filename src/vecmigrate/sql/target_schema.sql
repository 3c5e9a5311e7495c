-- The target store (patterns.sqlite). vecmigrate fills in {dimension} and {distance_metric}
-- from validated values; everything else is plain SQL, safe to run twice.
CREATE TABLE IF NOT EXISTS patterns (
  key             INTEGER PRIMARY KEY,     -- = patterns_vec.rowid = USearch key
  id              TEXT UNIQUE NOT NULL,    -- the source pattern's id, as text
  type            TEXT,
  domain          TEXT,
  content         TEXT,
  framework       TEXT,
  coverage        REAL,
  flakiness_score REAL,
  verdict         TEXT,
  created_at      INTEGER,                 -- epoch ms, UTC
  last_used       INTEGER,                 -- epoch ms, UTC
  usage_count     INTEGER,
  metadata        TEXT,                    -- JSON object
  kind            TEXT NOT NULL DEFAULT 'pattern',  -- pattern, episode, skill, note, memory, experience, ...
  embedding_model TEXT                     -- the model that made this row's vector ('unknown' when unlabelled)
);
CREATE INDEX IF NOT EXISTS patterns_by_type ON patterns(type);
CREATE INDEX IF NOT EXISTS patterns_by_domain ON patterns(domain);
CREATE INDEX IF NOT EXISTS patterns_by_framework ON patterns(framework);
CREATE INDEX IF NOT EXISTS patterns_by_kind ON patterns(kind);

-- Exact KNN mirror. Metadata columns refuse NULL: a missing value is stored as 'unknown'.
CREATE VIRTUAL TABLE IF NOT EXISTS patterns_vec USING vec0(
  embedding float[{dimension}] distance_metric={distance_metric},
  type text,
  domain text,
  framework text,
  kind text
);

-- Settings of this store (dimension, metric, dtype, HNSW parameters, the model of its vectors,
-- the embedder for text queries and new rows, index checksum).
CREATE TABLE IF NOT EXISTS vecmigrate_meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);

-- The ledger: one row per migration run, one per committed batch (same transaction as the rows).
CREATE TABLE IF NOT EXISTS vecmigrate_runs (
  run_id       INTEGER PRIMARY KEY,
  source       TEXT NOT NULL,
  source_table TEXT NOT NULL,              -- the tables read, comma-separated
  schema       TEXT NOT NULL,              -- the source layout
  options      TEXT NOT NULL,              -- JSON
  total_rows   INTEGER NOT NULL,
  started_at   INTEGER NOT NULL,           -- epoch ms
  finished_at  INTEGER,
  status       TEXT NOT NULL,              -- 'running' | 'complete'
  deleted      INTEGER NOT NULL DEFAULT 0  -- patterns removed because their source rows are gone
);
CREATE TABLE IF NOT EXISTS vecmigrate_batches (
  run_id            INTEGER NOT NULL,
  batch_no          INTEGER NOT NULL,
  last_source_rowid INTEGER NOT NULL,
  written           INTEGER NOT NULL,
  quarantined       INTEGER NOT NULL,
  committed_at      INTEGER NOT NULL,
  source_table      TEXT NOT NULL DEFAULT '',  -- the source table this batch read
  inserted          INTEGER NOT NULL DEFAULT 0,  -- of `written`: new patterns
  unchanged         INTEGER NOT NULL DEFAULT 0,  -- rows the target already held as they are
  PRIMARY KEY (run_id, batch_no)
);

-- Rows that could not be migrated, kept verbatim (JSON; blobs as {"$blob": hex}) with the reason.
CREATE TABLE IF NOT EXISTS quarantine (
  qid            INTEGER PRIMARY KEY,
  run_id         INTEGER NOT NULL,
  source_table   TEXT NOT NULL,
  source_rowid   INTEGER,
  pattern_id     TEXT,
  reason         TEXT NOT NULL,
  row_json       TEXT NOT NULL,
  quarantined_at INTEGER NOT NULL
);

-- The change log: one row per change to a pattern (migrate, sync, store write, delete, usage,
-- rollback replay, reconcile), appended in the same transaction as the change. A USearch index
-- is a cache of it: the saved file records the last seq it holds (vecmigrate_meta.index_seq) and
-- every process replays what came after. Keys are never reused (a new key is above every key here).
CREATE TABLE IF NOT EXISTS vecmigrate_changes (
  seq        INTEGER PRIMARY KEY AUTOINCREMENT,
  key        INTEGER NOT NULL,             -- patterns.key
  pattern_id TEXT,                         -- patterns.id at the time of the change
  op         TEXT NOT NULL,                -- 'upsert' | 'delete' | 'usage'
  origin     TEXT NOT NULL,                -- 'migrate', 'sync <source>', 'store', 'rollback', ...
  at         INTEGER NOT NULL              -- epoch ms
);
CREATE INDEX IF NOT EXISTS vecmigrate_changes_by_key ON vecmigrate_changes(key, seq);

-- Each source this target was fed from (migrate or sync), and what its last pass read.
CREATE TABLE IF NOT EXISTS vecmigrate_sources (
  source_id      INTEGER PRIMARY KEY,
  path           TEXT NOT NULL,            -- resolved path of the source database
  layout         TEXT NOT NULL,
  tables         TEXT NOT NULL,            -- the tables read, comma-separated
  identity       TEXT NOT NULL,            -- JSON: mapping, namespace
  history        TEXT NOT NULL DEFAULT '{}',  -- JSON: source history table -> its name in this target
  first_at       INTEGER NOT NULL,         -- epoch ms
  synced_at      INTEGER,                  -- when its last pass finished
  snapshot_at    INTEGER,                  -- when the snapshot that pass read was taken
  state          TEXT,                     -- JSON: the source file's state read by that pass
  UNIQUE (path, tables)
);

-- Lineage: every source row a source fed in, with a hash of its values: the pattern it became
-- (key), or NULL when it was quarantined. `synced_seq` is the change-log position of the last
-- write from the source: a change of the key after it was made by someone else (a store).
CREATE TABLE IF NOT EXISTS vecmigrate_lineage (
  source_id    INTEGER NOT NULL,
  source_table TEXT NOT NULL,
  source_rowid INTEGER NOT NULL,
  key          INTEGER,
  row_hash     TEXT NOT NULL,
  synced_seq   INTEGER NOT NULL,
  PRIMARY KEY (source_id, source_table, source_rowid)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS vecmigrate_lineage_by_key ON vecmigrate_lineage(key);

-- The verbatim values of each source row that made a pattern (JSON: column -> value, a blob as
-- {"$blob": hex}, or {"$vector": true} when it is the vector vec0 holds): `export` writes an
-- unchanged pattern back byte for byte. Written and removed with its lineage row.
CREATE TABLE IF NOT EXISTS vecmigrate_source_rows (
  source_id    INTEGER NOT NULL,
  source_table TEXT NOT NULL,
  source_rowid INTEGER NOT NULL,
  image        TEXT NOT NULL,
  PRIMARY KEY (source_id, source_table, source_rowid)
);

-- The CREATE TABLE statements of each source's tables (its pattern tables and their side
-- tables), as its last pass found them: `export` recreates them.
CREATE TABLE IF NOT EXISTS vecmigrate_source_schema (
  source_id INTEGER NOT NULL,
  name      TEXT NOT NULL,
  sql       TEXT NOT NULL,
  PRIMARY KEY (source_id, name)
);

-- Vectors `repair` found in vec0 with no pattern row and could not give one back: moved out of
-- vec0 (no search should find a hit without a row), kept here.
CREATE TABLE IF NOT EXISTS vecmigrate_orphan_vectors (
  key       INTEGER PRIMARY KEY,
  embedding BLOB NOT NULL,
  at        INTEGER NOT NULL              -- epoch ms
);

-- Patterns a source row let go in a run or pass not finished yet (it makes another id now, or
-- is gone): deleted at its end unless another row of the source took them over.
CREATE TABLE IF NOT EXISTS vecmigrate_released (
  source_id  INTEGER NOT NULL,
  key        INTEGER NOT NULL,
  synced_seq INTEGER NOT NULL,
  PRIMARY KEY (source_id, key)
) WITHOUT ROWID;

-- Dual-write: every failed write to the secondary store (replayed by `vecmigrate reconcile`).
CREATE TABLE IF NOT EXISTS dual_write_journal (
  jid         INTEGER PRIMARY KEY,
  operation   TEXT NOT NULL,               -- 'store' | 'delete' | 'usage' | 'clear'
  pattern_id  TEXT,
  error       TEXT NOT NULL,
  at          INTEGER NOT NULL,            -- epoch ms
  resolved_at INTEGER                      -- set when reconcile has repaired it
);

-- Dual-write shadow reads that disagreed (recall of the primary's hits against the secondary's).
CREATE TABLE IF NOT EXISTS shadow_disagreements (
  sid           INTEGER PRIMARY KEY,
  at            INTEGER NOT NULL,
  k             INTEGER NOT NULL,
  recall        REAL NOT NULL,
  primary_ids   TEXT NOT NULL,             -- JSON array
  secondary_ids TEXT NOT NULL              -- JSON array
);
