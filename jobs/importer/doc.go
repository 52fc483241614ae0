// Package importer is the wiring of the import and validate jobs around the
// engine's run loop (pipeline.RunImport): the transform that applies each
// file's compiled mapping (contacts, or notes and tasks), the custom field
// definitions a mapping needs, the one listing of the location's contacts
// (for --on-conflict reject's screen and validate's prediction), and
// validate's plan, judged row by row as the run hands the rows on.
//
// It sits at the jobs floor: it may import pipeline, sources, transform,
// ghl, ghl/pace, internal/fsx and the other jobs (session, predict,
// conflict); nothing below imports it, and it knows no flags.
//
// Floor 4 (docs/design.md): imports the engine, other jobs and the floors below them, never the command line.
package importer
