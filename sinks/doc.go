// Package sinks writes what the engines move: GHL (contacts, with their
// notes and tasks, and the run's bulk tags) and Related (notes or tasks
// files) write to HighLevel for an import, and the Parquet and CSV writers
// write an export's files. The import sinks satisfy the engine's narrow
// contract (pipeline.Sink, pipeline.TagWriter) through the types of record
// alone: a sink is handed a record.Item and hands back a record.Outcome,
// and its journal is given to it when it is made. It may import record,
// ghl, ghl/pace and internal/fsx, never pipeline or jobs.
//
// Floor 2 (docs/design.md): imports ghl, ghl/pace, record and internal packages; never the engine or a job.
package sinks
