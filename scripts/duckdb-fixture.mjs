// Writes a small stand-in for a `ghlbulk export --format parquet --include
// tasks,notes,appointments` folder with DuckDB, so scripts/duckdb-check.mjs
// can be tried without a sandbox or a finished export command.
//
//   node scripts/duckdb-fixture.mjs DIR            # a good export
//   node scripts/duckdb-fixture.mjs DIR --broken   # an orphan task, a wrong count,
//                                                  # dateAdded as a string
//
// Only the columns the check looks at, with the export's types
// (sinks/schema.go): ids and contactId VARCHAR, tags VARCHAR[], times
// TIMESTAMPTZ (written as Parquet timestamps marked UTC), flags BOOLEAN.
import { DuckDBInstance } from '@duckdb/node-api';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const [dir, flag] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node scripts/duckdb-fixture.mjs DIR [--broken]');
  process.exit(2);
}
const broken = flag === '--broken';
mkdirSync(dir, { recursive: true });

const con = await (await DuckDBInstance.create(':memory:')).connect();
const q = (s) => `'${s.replaceAll("'", "''")}'`;
const N = 12;

await con.run(`CREATE TABLE contacts AS
  SELECT 'c' || lpad(i::VARCHAR, 4, '0') AS id, 'loc1' AS locationId,
         'First' || i AS firstName, 'Last' || i AS lastName,
         ${broken ? "strftime(TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_days(i::INT) * 20, '%Y-%m-%dT%H:%M:%SZ')" : "TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_days(i::INT) * 20"} AS dateAdded,
         TIMESTAMPTZ '2025-06-01 00:00:00+00' + to_hours(i::INT) AS dateUpdated,
         i % 5 = 0 AS dnd,
         CASE i % 3 WHEN 0 THEN ['vip', 'newsletter'] WHEN 1 THEN ['newsletter'] ELSE []::VARCHAR[] END AS tags
  FROM range(${N}) t(i)`);
await con.run(`CREATE TABLE tasks AS
  SELECT 't' || i AS id, 'c' || lpad((i % ${N})::VARCHAR, 4, '0') AS contactId, 'Call back' AS title,
         TIMESTAMPTZ '2025-07-01 09:00:00+00' + to_days(i::INT) AS dueDate, i % 2 = 0 AS completed
  FROM range(20) t(i)`);
if (broken) await con.run(`INSERT INTO tasks VALUES ('t-orphan', 'c9999', 'Lost', now(), false)`);
await con.run(`CREATE TABLE notes AS
  SELECT 'n' || i AS id, 'c' || lpad((i * 7 % ${N})::VARCHAR, 4, '0') AS contactId, 'Note ' || i AS body,
         TIMESTAMPTZ '2025-05-01 12:00:00+00' + to_hours(i::INT) AS dateAdded
  FROM range(8) t(i)`);
await con.run(`CREATE TABLE appointments AS
  SELECT 'a' || i AS id, 'c' || lpad((i * 5 % ${N})::VARCHAR, 4, '0') AS contactId, 'Demo' AS title,
         TIMESTAMPTZ '2025-08-01 15:00:00+00' + to_days(i::INT) AS startTime, ['u1'] AS users
  FROM range(5) t(i)`);

const counts = {};
const files = {};
for (const e of ['contacts', 'tasks', 'notes', 'appointments']) {
  files[e] = `${e}.parquet`;
  await con.run(`COPY ${e} TO ${q(join(dir, files[e]))} (FORMAT parquet)`);
  counts[e] = Number((await con.runAndReadAll(`SELECT count(*) FROM ${e}`)).getRows()[0][0]);
}
if (broken) counts.notes += 1;

writeFileSync(join(dir, 'manifest.json'), JSON.stringify({
  schema_version: 1, format: 'parquet', mode: 'full', location_id: 'loc1',
  include: ['tasks', 'notes', 'appointments'], created_at: new Date().toISOString(),
  total: N, listed: N, row_counts: counts, files,
}, null, 2) + '\n');
console.log(`wrote ${dir}: ${JSON.stringify(counts)}`);
