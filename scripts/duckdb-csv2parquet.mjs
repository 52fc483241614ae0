// Converts a CSV to Parquet with DuckDB: the yardstick scripts/bench.sh
// holds `ghlbulk validate` to on the same file (section 8).
//   node scripts/duckdb-csv2parquet.mjs IN.csv OUT.parquet
import { DuckDBInstance } from '@duckdb/node-api';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
	console.error('usage: duckdb-csv2parquet.mjs IN.csv OUT.parquet');
	process.exit(2);
}
const db = await DuckDBInstance.create(':memory:');
const con = await db.connect();
const q = (s) => "'" + s.replaceAll("'", "''") + "'";
await con.run(`COPY (SELECT * FROM read_csv(${q(input)}, all_varchar = true)) TO ${q(output)} (FORMAT parquet)`);
