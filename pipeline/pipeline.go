// Package pipeline runs imports and exports: it owns the worker pool, the
// checkpoint store, the counters and the rejects file. Sources and sinks are
// concrete types in their own packages; the interfaces they satisfy are
// declared here, where they are used.
package pipeline
