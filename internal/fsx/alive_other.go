//go:build !unix && !windows

package fsx

import "os"

// alive reports whether process pid exists; where that can't be told, a
// file is kept rather than taken from a run that may still be writing it.
func alive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	p.Release()
	return true
}
