#!/usr/bin/env node
// k-NN over a vecmigrate target from Node.js, through both of its indexes:
//   usearch    - the HNSW graph in patterns.usearch (approximate, fast)
//   sqlite-vec - the vec0 table patterns_vec in patterns.sqlite (exact)
// Usage: node knn.mjs --target DIR (--id ID | --vector '[...]') [-k 10] [--backend usearch|sqlite-vec|both]
// Prints one JSON object: {"usearch": [{key, id, distance}...], "sqlite_vec": [...]}, with the
// distances `vecmigrate search --json` reports (cosine distance, or L2 for an l2sq target).
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import * as sqliteVec from 'sqlite-vec';
import { Index, exactSearch } from 'usearch';

// `--vector -0.1,...` is what vecmigrate takes; parseArgs would read a leading '-' as an option
const argv = [];
for (let i = 2; i < process.argv.length; i += 1) {
  if (process.argv[i] === '--vector' && i + 1 < process.argv.length) argv.push(`--vector=${process.argv[++i]}`);
  else argv.push(process.argv[i]);
}
const { values: args } = parseArgs({
  args: argv,
  options: {
    target: { type: 'string', default: 'data/patterns.vecdb' },
    id: { type: 'string' },
    vector: { type: 'string' },
    k: { type: 'string', short: 'k', default: '10' },
    backend: { type: 'string', default: 'both' },
  },
});
const fail = (message, code = 1) => { console.error(message); process.exit(code); };
const k = Number(args.k);
if (!Number.isInteger(k) || k < 1 || (args.id === undefined) === (args.vector === undefined)
    || !['usearch', 'sqlite-vec', 'both'].includes(args.backend)) {
  fail("usage: node knn.mjs --target DIR (--id ID | --vector '[...]') [-k 10] [--backend usearch|sqlite-vec|both]", 2);
}

// DIR/patterns.sqlite and DIR/patterns.usearch are symlinks into the live generation
// (DIR/current -> gen-NNNNNN). Resolve once, so that both files come from the same generation
// even if a migration or rollback switches `current` meanwhile.
let generation;
try {
  generation = path.dirname(realpathSync(path.join(args.target, 'patterns.sqlite')));
} catch {
  fail(`no vecmigrate target with a live generation at ${args.target}`);
}
const db = new Database(path.join(generation, 'patterns.sqlite'), { readonly: true, fileMustExist: true });
sqliteVec.load(db); // registers vec0 (the npm package ships the prebuilt extension)

// Settings of the target: dimension, metric ('cos' | 'l2sq'), dtype ('f32' | 'f16' | 'bf16' | 'i8'), ...
const meta = Object.fromEntries(db.prepare('SELECT key, value FROM vecmigrate_meta').raw().all());
const dimension = Number(meta.dimension);

// The query: a stored pattern's exact float32 vector (from vec0), or one given on the command line.
let query, queryKey;
if (args.id !== undefined) {
  const row = db.prepare('SELECT rowid, embedding FROM patterns_vec WHERE rowid = (SELECT key FROM patterns WHERE id = ?)')
    .get(args.id);
  if (!row) fail(`no pattern with id ${args.id}`);
  // the blob is little-endian float32; copy its bytes (a Buffer's offset need not be 4-byte aligned)
  query = new Float32Array(new Uint8Array(row.embedding).buffer);
  queryKey = row.rowid;
} else {  // a JSON array or comma-separated numbers, as vecmigrate search --vector takes them
  const text = args.vector.trim();
  let values;
  try {
    values = text.startsWith('[') ? JSON.parse(text) : text.split(',').map(Number);
  } catch {
    fail('--vector: expected a JSON array or comma-separated numbers', 2);
  }
  if (!Array.isArray(values) || !values.every((x) => typeof x === 'number' && Number.isFinite(x))) {
    fail('--vector: expected finite numbers', 2);
  }
  query = Float32Array.from(values);
}
if (query.length !== dimension) fail(`the query has ${query.length} dimensions, the target ${dimension}`, 2);
if (meta.metric === 'cos' && query.every((x) => x === 0)) fail('--vector: a zero vector has no direction', 2);

// Keys (patterns.key) -> ids in one statement. A key without a pattern row is dropped, as vecmigrate does.
const idsOf = db.prepare('SELECT key, id FROM patterns WHERE key IN (SELECT value FROM json_each(?))').raw();
function toHits(keys, distances) {
  const ids = new Map(idsOf.all(JSON.stringify(keys)));
  return keys.flatMap((key, i) => (ids.has(key) ? [{ key, id: ids.get(key), distance: distances[i] }] : []));
}

function searchSqliteVec() {
  // vec0 computes exact distances in its own metric (cosine or L2). better-sqlite3 binds a
  // Float32Array as a BLOB of its bytes (vec0's format) and a BigInt as an INTEGER (a number as REAL).
  const rows = db.prepare('SELECT rowid AS key, distance FROM patterns_vec WHERE embedding MATCH ? AND k = ? ORDER BY distance')
    .all(query, BigInt(k));
  return toHits(rows.map((r) => r.key), rows.map((r) => r.distance));
}

// vecmigrate searches an index of at most this many vectors exactly: HNSW built on many threads
// can leave a node no other node links to, and brute force costs what the graph does at this size.
const EXACT_INDEX = 2048;

function searchUSearch() {
  const file = path.join(generation, 'patterns.usearch');
  // vecmigrate records the file's sha256: a stale or damaged file must not be loaded (it can crash the process)
  if (createHash('sha256').update(readFileSync(file)).digest('hex') !== meta.index_checksum) {
    fail(`${file} is not the index vecmigrate recorded: \`vecmigrate repair\` rebuilds it (or use --backend sqlite-vec)`);
  }
  // view()/load() take dimensions, metric and dtype from the file's header (what is passed here only
  // states them); expansion_search is not in the file: the one given here is the one searches use.
  const index = new Index({
    dimensions: dimension, metric: meta.metric, quantization: meta.dtype,
    connectivity: Number(meta.connectivity), expansion_add: Number(meta.expansion_add),
    expansion_search: Number(meta.expansion_search), multi: false,
  });
  index.view(file); // memory-maps the file read-only; index.load(file) would read it into RAM
  if (index.dimensions() !== dimension) fail(`${file} holds ${index.dimensions()}-d vectors, the target ${dimension}-d`);
  if (index.size() === 0) return [];
  let matches, keys;
  if (index.size() > EXACT_INDEX) {
    // one query, one thread; keys come back as a BigUint64Array, distances as a Float32Array
    matches = index.search(query, Math.min(k, index.size()), 1);
    keys = Array.from(matches.keys, Number); // patterns.key fits a JS number (< 2^53)
  }
  if (keys === undefined || (queryKey !== undefined && keys[0] !== queryKey)) {
    // HNSW is approximate and can miss even the pattern's own vector; a small index is searched
    // exactly anyway. vecmigrate then asks USearch for brute force; this package has no exact flag
    // on Index.search, so brute-force vec0's float32 vectors with exactSearch (it returns offsets
    // into `dataset`, not keys). On an f16/bf16/i8 target these distances are float32 ones, a
    // little off those of the index's quantized vectors.
    const rows = db.prepare('SELECT rowid, embedding FROM patterns_vec').raw().all();
    const dataset = new Float32Array(rows.length * dimension);
    rows.forEach(([, blob], i) => dataset.set(new Float32Array(new Uint8Array(blob).buffer), i * dimension));
    matches = exactSearch(dataset, query, dimension, Math.min(k, rows.length), meta.metric, 1);
    keys = Array.from(matches.keys, (offset) => rows[Number(offset)][0]);
  }
  // USearch's l2sq is the squared distance: report its square root, the L2 that vec0 and vecmigrate report
  const distances = Array.from(matches.distances, (d) => (meta.metric === 'l2sq' ? Math.sqrt(Math.max(d, 0)) : d));
  return toHits(keys, distances);
}

// The index file is a cache of the change log: writes logged after it was saved are not in it yet.
// (vecmigrate replays them from vec0 at open; this example only warns.)
const logged = db.prepare('SELECT coalesce(max(seq), 0) FROM vecmigrate_changes').pluck().get();
if (args.backend !== 'sqlite-vec' && logged !== Number(meta.index_seq)) {
  console.error(`warning: ${logged - Number(meta.index_seq)} change(s) are not in the USearch file yet`);
}

// Searching by id, the pattern itself comes first, as vecmigrate answers: byte-identical copies of
// its vector (a third of some agentic-qe files) tie with it and may come before it or push it past k.
const TIE = 1e-6;
const vectorOf = db.prepare('SELECT embedding FROM patterns_vec WHERE rowid = ?').pluck();
function patternFirst(hits) {
  if (queryKey === undefined || hits.length === 0 || hits[0].key === queryKey) return hits;
  const own = hits.findIndex((hit) => hit.key === queryKey);
  if (own > 0) {
    return hits[own].distance <= hits[0].distance + TIE ? [hits[own], ...hits.filter((_, i) => i !== own)] : hits;
  }
  if (!Buffer.from(query.buffer).equals(vectorOf.get(BigInt(hits[0].key)))) return hits;
  return [{ key: queryKey, id: args.id, distance: hits[0].distance }, ...hits].slice(0, k);
}

const out = {};
try {
  if (args.backend !== 'sqlite-vec') out.usearch = patternFirst(searchUSearch());
  if (args.backend !== 'usearch') out.sqlite_vec = patternFirst(searchSqliteVec());
} catch (error) {  // e.g. vec0 refuses k above 4096: one line, as vecmigrate says it
  fail(`error: ${error.message}`);
}
db.close();
console.log(JSON.stringify(out));
