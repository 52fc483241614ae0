// Checks that DuckDB (@duckdb/node-api) reads a `ghlbulk export --format
// parquet` folder as a warehouse user would expect: the right column types,
// the manifest's row counts, and tasks/notes/appointments that all belong to
// an exported contact. Then prints a summary and a few example queries.
//
//   node scripts/duckdb-check.mjs DIR
//
// DIR is the export's --out. With --layout run the files are in
// DIR/run=<time>/; the newest run is checked. Exit 1 on any mismatch.
import { DuckDBInstance } from '@duckdb/node-api';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const out = process.argv[2];
if (!out) {
  console.error('usage: node scripts/duckdb-check.mjs DIR');
  process.exit(2);
}

// Where the manifest is: DIR itself (--layout replace) or the newest
// DIR/run=<YYYYMMDDTHHMMSSZ>/ (--layout run); those names sort by time.
function exportDir(dir) {
  if (existsSync(join(dir, 'manifest.json'))) return dir;
  const runs = existsSync(dir)
    ? readdirSync(dir, { withFileTypes: true })
        .filter((e) => e.isDirectory() && e.name.startsWith('run=') && existsSync(join(dir, e.name, 'manifest.json')))
        .map((e) => e.name).sort()
    : [];
  if (!runs.length) {
    console.error(`no manifest.json in ${dir} nor in a ${dir}/run=*/ folder`);
    process.exit(1);
  }
  return join(dir, runs.at(-1));
}

const dir = exportDir(out);
const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
const children = ['tasks', 'notes', 'appointments'];
// The manifest's files map names each entity's file; fall back to the
// documented names for a manifest without it.
const entities = ['contacts', ...children].filter((e) => e === 'contacts' || manifest.files?.[e] || (manifest.include ?? []).includes(e));
const fileOf = (e) => join(dir, manifest.files?.[e] ?? `${e}.parquet`);

const failures = [];
const fail = (msg) => { failures.push(msg); console.log(`FAIL ${msg}`); };
const ok = (msg) => console.log(`ok   ${msg}`);

const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const rows = async (sql) => (await con.runAndReadAll(sql)).getRowObjectsJson();
const sqlString = (s) => `'${s.replaceAll("'", "''")}'`;
// TIMESTAMPTZ values print in DuckDB's session time zone; the export's are
// UTC, so show them as such (needs ICU, which the Node build bundles).
await con.run("SET TimeZone = 'UTC'").catch(() => {});

console.log(`export: ${dir} (format=${manifest.format} mode=${manifest.mode} schema_version=${manifest.schema_version} location=${manifest.location_id})`);

// One view per file, so the checks and the examples read like a user's SQL.
for (const e of entities) {
  if (!existsSync(fileOf(e))) {
    fail(`${e}: ${fileOf(e)} is missing though the manifest lists it`);
    continue;
  }
  await con.run(`CREATE VIEW ${e} AS SELECT * FROM read_parquet(${sqlString(fileOf(e))})`);
}
if (failures.length) process.exit(1);

// --- Types -----------------------------------------------------------------
async function types(view) {
  return Object.fromEntries((await rows(`DESCRIBE SELECT * FROM ${view}`)).map((r) => [r.column_name, r.column_type]));
}
// Times must arrive as timestamps, not strings or integers. TIMESTAMP WITH
// TIME ZONE is what a Parquet timestamp marked UTC (isAdjustedToUTC) gives;
// plain TIMESTAMP means the file lost that flag. Both load; report which.
const timeTypes = ['TIMESTAMP WITH TIME ZONE', 'TIMESTAMP'];
function expectType(view, t, col, want) {
  const got = t[col];
  const wants = [want].flat();
  if (wants.includes(got)) ok(`${view}.${col} ${got}`);
  else fail(`${view}.${col} is ${got ?? 'missing'}, want ${wants.join(' or ')}`);
}
const contactTypes = await types('contacts');
expectType('contacts', contactTypes, 'id', 'VARCHAR');
expectType('contacts', contactTypes, 'tags', 'VARCHAR[]');
expectType('contacts', contactTypes, 'dateAdded', timeTypes);
expectType('contacts', contactTypes, 'dateUpdated', timeTypes);
expectType('contacts', contactTypes, 'dnd', 'BOOLEAN');
// Typed custom field columns: the manifest gives each one's Arrow type.
const duckOf = (arrow) =>
  arrow.startsWith('timestamp') ? timeTypes
    : arrow.startsWith('list<') && arrow.includes('utf8') ? 'VARCHAR[]'
    : ({ utf8: 'VARCHAR', float64: 'DOUBLE', bool: 'BOOLEAN' })[arrow] ?? `(unknown Arrow type ${arrow})`;
for (const cf of manifest.custom_fields ?? []) expectType('contacts', contactTypes, cf.column, duckOf(cf.type));
// A time the export could not parse is written as null; HighLevel always
// sends dateAdded, so a null there means a parsing bug, not missing data.
const [nulls] = await rows(`SELECT count(*) FILTER (WHERE dateAdded IS NULL) AS added, count(*) FILTER (WHERE dateUpdated IS NULL) AS updated FROM contacts`);
if (Number(nulls.added) || Number(nulls.updated)) fail(`contacts: ${nulls.added} null dateAdded, ${nulls.updated} null dateUpdated`);
else ok('contacts.dateAdded and dateUpdated never null');
const childTime = { tasks: 'dueDate', notes: 'dateAdded', appointments: 'startTime' };
for (const e of entities.filter((e) => e !== 'contacts')) {
  const t = await types(e);
  expectType(e, t, 'id', 'VARCHAR');
  expectType(e, t, 'contactId', 'VARCHAR');
  expectType(e, t, childTime[e], timeTypes);
}

// --- Counts, keys and orphans ---------------------------------------------
const summary = [];
for (const e of entities) {
  const [r] = await rows(`SELECT count(*) AS n, count(DISTINCT id) AS ids, count(*) FILTER (WHERE id IS NULL) AS null_ids FROM ${e}`);
  const n = Number(r.n);
  const want = manifest.row_counts?.[e];
  if (want === undefined) fail(`${e}: manifest.row_counts has no entry`);
  else if (Number(want) !== n) fail(`${e}: ${n} rows, manifest says ${want}`);
  if (Number(r.ids) !== n || Number(r.null_ids) !== 0) fail(`${e}: ${n} rows but ${r.ids} distinct ids (${r.null_ids} null)`);
  let orphans = '';
  if (e !== 'contacts') {
    // Every child row must point at an exported contact: an anti-join.
    const [o] = await rows(`SELECT count(*) AS n FROM ${e} c WHERE c.contactId IS NULL OR NOT EXISTS (SELECT 1 FROM contacts k WHERE k.id = c.contactId)`);
    orphans = Number(o.n);
    if (orphans !== 0) fail(`${e}: ${orphans} rows whose contactId is not in contacts`);
  }
  summary.push({ entity: e, file: manifest.files?.[e] ?? `${e}.parquet`, rows: n, manifest: want ?? '-', orphans });
}
if (manifest.mode === 'full' && manifest.total !== undefined && Number(manifest.total) !== summary[0].rows) {
  fail(`contacts: ${summary[0].rows} rows, but the API announced total ${manifest.total}`);
}

console.log();
table(summary);

// --- Examples a user could run ---------------------------------------------
const examples = [
  ['contacts per tag',
    `SELECT tag, count(*) AS contacts FROM (SELECT unnest(tags) AS tag FROM contacts) GROUP BY tag ORDER BY contacts DESC, tag LIMIT 5`],
  ['contacts added per month',
    `SELECT strftime(date_trunc('month', dateAdded), '%Y-%m') AS month, count(*) AS contacts FROM contacts GROUP BY 1 ORDER BY 1 DESC LIMIT 5`],
];
if (entities.includes('tasks')) {
  examples.push(['open tasks per contact (top 5)',
    `SELECT k.id, k.firstName, k.lastName, count(*) AS open_tasks, min(t.dueDate) AS next_due
       FROM tasks t JOIN contacts k ON k.id = t.contactId
      WHERE NOT t.completed GROUP BY ALL ORDER BY open_tasks DESC, k.id LIMIT 5`]);
}
for (const [title, sql] of examples) {
  console.log(`\n-- ${title}\n${sql.replace(/\s+/g, ' ')};`);
  // A column of the wrong type (already reported above) breaks an example;
  // show DuckDB's error and go on, so the summary still says what failed.
  try {
    table(await rows(sql));
  } catch (err) {
    console.log(`(query failed: ${err.message.split('\n')[0]})`);
  }
}

con.closeSync();
db.closeSync();
console.log();
if (failures.length) {
  console.log(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log('all checks passed');

// table prints rows of flat objects as an aligned text table.
function table(objs) {
  if (!objs.length) { console.log('(no rows)'); return; }
  const cols = Object.keys(objs[0]);
  const cell = (v) => (v === null || v === undefined ? 'NULL' : String(v));
  const width = cols.map((c) => Math.max(c.length, ...objs.map((o) => cell(o[c]).length)));
  const line = (vals) => vals.map((v, i) => v.padEnd(width[i])).join('  ').trimEnd();
  console.log(line(cols));
  console.log(line(width.map((w) => '-'.repeat(w))));
  for (const o of objs) console.log(line(cols.map((c) => cell(o[c]))));
}
