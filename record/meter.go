package record

// Meter counts the requests a sink makes, for the run's report. The
// engine's Stats implements it; it is also a pace.Recorder (Request,
// Retry, Throttled), so a sink hands it to pace.Retry as it is.
type Meter interface {
	Request()   // an HTTP attempt (retries included)
	Retry()     // an attempt failed and another will follow
	Throttled() // an attempt was answered 429
	// RequestKind counts a logical API call by kind ("upsert", "note",
	// "tags", "list_notes", ...), whatever number of attempts it took.
	RequestKind(kind string)
	TagCall()     // a request that added tags (bulk or per contact)
	NoteCreated() // a note the run created
	TaskCreated() // a task the run created
}
