package pipeline

import (
	"context"
	"os"
)

// CopyTo writes a consistent copy of the state to path, which must not
// exist: what a run in progress checkpointed so far, as one SQLite file
// without side files (VACUUM INTO reads one snapshot of the WAL), for an
// export to keep beside its output in object storage.
func (s *Store) CopyTo(ctx context.Context, path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return s.wrap("copy", err)
	}
	_, err := s.db.ExecContext(ctx, "VACUUM INTO ?", path)
	return s.wrapNil("copy to "+path, err)
}
