package main

import "github.com/ghlbulk/ghlbulk/pipeline"

// The exit codes of CONTRACT.md, named as the engine names them: one map
// (pipeline.ExitCode) turns every error, the command line's and the
// engine's, into one of them.
const (
	exitOK      = pipeline.ExitOK
	exitFailed  = pipeline.ExitFailed
	exitRefused = pipeline.ExitRefused
	exitStopped = pipeline.ExitStopped
)

// refused marks an error found before any write (bad flag, mapping,
// credentials, scope or input file): exit 2.
func refused(err error) error { return pipeline.Refused(err) }

// stopped marks a resumable early stop (interrupted, quota spent): exit 3.
func stopped(err error) error { return pipeline.Stopped(err) }
