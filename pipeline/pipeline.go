// Package pipeline is the import engine: it owns the run loop, the lanes
// and the worker pool, the committer, the checkpoint store, the counters,
// the bulk tags, the rejects file and progress. It hands rows to a Sink
// and takes back one record.Outcome per row; de-duplication, journaling,
// stats and stopping are its own. The contract types a sink needs (rows,
// outcomes, statuses, the journal, faults) live below it in record, so
// sinks never import the engine; the interfaces it calls (Sink, TagWriter,
// Progress) are declared here, where they are used. It may import record,
// ghl, ghl/pace, transform and internal/fsx, never sources, sinks or jobs.
//
// Floor 3 (docs/design.md): imports floors 0 to 2 (record, ghl, ghl/pace, internal packages), never a job or the command line.
package pipeline
