package record

// FaultKind says what kind of run-level fault stopped an import.
type FaultKind string

// Run-level faults: never a row's fault, so never a reject.
const (
	FaultAuth     FaultKind = "auth"     // 401: the token is bad or expired
	FaultScope    FaultKind = "scope"    // 403: the token lacks a scope or the location
	FaultLocation FaultKind = "location" // 404 on a location-wide endpoint
	FaultMapping  FaultKind = "mapping"  // the same 422 on many rows in a row: the mapping is wrong
	FaultAPI      FaultKind = "api"      // the API kept failing after retries (5xx, network)
	FaultState    FaultKind = "state"    // the checkpoint could not be written (disk full, I/O)
	FaultInput    FaultKind = "input"    // an input file could not be read on (damaged, past a limit)
)

// FaultError stops the run; a sink returns one for what is no row's fault.
// The state is kept: running again resumes. BeforeWrite is true when not
// one write had been made, which the CLI maps to exit 2 (refused) rather
// than 1 (failed).
type FaultError struct {
	Kind        FaultKind
	Hint        string // what the user can do
	BeforeWrite bool
	Err         error
}

func (e *FaultError) Error() string {
	msg := e.Err.Error()
	if e.Hint != "" {
		msg += " (" + e.Hint + ")"
	}
	return msg
}

func (e *FaultError) Unwrap() error { return e.Err }
