package fsx

import (
	"fmt"
	"os"
	"path/filepath"
)

// Named is a path a command was given, with what names it: a flag
// ("--rejects") or a role ("input file").
type Named struct {
	Name, Path string
}

// CheckOutputs refuses, before anything is written, an output that is one
// of the inputs or another output: a rejects, report or plan file named
// like the input file, the mapping or the state would replace it. Paths
// are the same when they are one existing file (os.SameFile: symlinks and
// hard links) or, for a file not there yet, the same cleaned absolute path
// once the directory's symlinks are resolved ("./a.csv" and "a.csv"). Empty
// paths are skipped. The error names both and what to do.
func CheckOutputs(inputs, outputs []Named) error {
	ins := identify(inputs)
	outs := identify(outputs)
	for i, o := range outs {
		for _, in := range ins {
			if same(o, in) {
				return fmt.Errorf("%s %s is the same file as %s %s: the run would replace it; give %s a path of its own",
					o.Name, o.Path, in.Name, in.Path, o.Name)
			}
		}
		for _, p := range outs[:i] {
			if same(o, p) {
				return fmt.Errorf("%s %s and %s %s are the same file: one would replace the other; give each its own path",
					p.Name, p.Path, o.Name, o.Path)
			}
		}
	}
	return nil
}

type identity struct {
	Named
	resolved string      // absolute, cleaned, symlinks resolved as far as they exist
	info     os.FileInfo // nil when there is no file (yet)
}

func identify(ps []Named) []identity {
	out := make([]identity, 0, len(ps))
	for _, p := range ps {
		if p.Path == "" {
			continue
		}
		id := identity{Named: p, resolved: resolve(p.Path)}
		if fi, err := os.Stat(p.Path); err == nil {
			id.info = fi
		}
		out = append(out, id)
	}
	return out
}

func same(a, b identity) bool {
	if a.info != nil && b.info != nil {
		return os.SameFile(a.info, b.info)
	}
	return a.resolved == b.resolved
}

// resolve is path made absolute with its symlinks resolved; for a file not
// there yet, its directory's.
func resolve(path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		return filepath.Clean(path)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		return r
	}
	if d, err := filepath.EvalSymlinks(filepath.Dir(abs)); err == nil {
		return filepath.Join(d, filepath.Base(abs))
	}
	return abs
}
