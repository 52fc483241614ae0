// Command ghlbulk moves contacts, with their tasks, notes, appointments and
// tags, in and out of HighLevel in bulk. This package is the command line
// only: each command parses its flags into an options struct and calls a
// job's run function; errors become exit codes in pipeline.ExitCode.
//
// Floor 5 (docs/design.md), the top: it may import any package; none
// imports it.
package main
