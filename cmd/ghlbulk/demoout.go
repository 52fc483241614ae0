package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
)

// demoMarker is the file the demo writes first into its --out, so that a
// later demo knows the folder for one it made and may clear it.
const demoMarker = ".ghlbulk-demo"

// demoExportDir is the export's folder inside the demo's --out.
const demoExportDir = "export"

// prepareDemoOut makes out a fresh, empty folder of the demo's own. It
// clears out only when that is a folder an earlier demo made (it holds the
// marker, or, from a demo before the marker, the export's manifest.json)
// and holds nothing but what a demo writes; a new or empty folder is used
// as it is. Any other folder is refused before anything is removed: the
// demo must never wipe a folder of the user's.
func prepareDemoOut(out string) error {
	if err := checkDemoOut(out); err != nil {
		return err
	}
	if err := os.RemoveAll(out); err != nil {
		return err
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return fsx.WriteFile(filepath.Join(out, demoMarker), []byte("written by ghlbulk demo: a later 'ghlbulk demo --out' may clear this folder\n"))
}

// checkDemoOut refuses an --out the demo did not make.
func checkDemoOut(out string) error {
	fi, err := os.Lstat(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return refused(fmt.Errorf("demo --out %s: %w", out, err))
	}
	if !fi.IsDir() {
		return refused(fmt.Errorf("demo --out %s: it is not a folder (a file or a symlink); nothing was removed: choose a new or empty folder for --out", out))
	}
	ents, err := os.ReadDir(out)
	if err != nil {
		return refused(fmt.Errorf("demo --out %s: %w", out, err))
	}
	var foreign []string
	for _, e := range ents {
		if !isDemoName(e.Name()) {
			foreign = append(foreign, e.Name())
		}
	}
	slices.Sort(foreign)
	switch {
	case len(foreign) > 0:
		return refused(fmt.Errorf("demo --out %s: the folder holds files the demo did not write (%s), and the demo clears its --out; nothing was removed: choose a new or empty folder for --out", out, demoList(foreign)))
	case len(ents) > 0 && !demoMade(out):
		return refused(fmt.Errorf("demo --out %s: no earlier demo made this folder (it has no %s), and the demo clears its --out; nothing was removed: choose a new or empty folder for --out", out, demoMarker))
	}
	return nil
}

// demoMade reports whether an earlier demo made out: its marker, or the
// manifest of its export from a demo that wrote no marker yet.
func demoMade(out string) bool {
	for _, p := range []string{demoMarker, filepath.Join(demoExportDir, "manifest.json")} {
		if fi, err := os.Lstat(filepath.Join(out, p)); err == nil && fi.Mode().IsRegular() {
			return true
		}
	}
	return false
}

// isDemoName reports whether an entry of --out is one a demo writes: its
// marker, each sample's state, rejects and reports (and their temporary
// and SQLite side files), the export folder and report, the conflict
// screen's temporary index, and what file managers drop anywhere.
func isDemoName(name string) bool {
	switch name {
	case demoMarker, demoExportDir, "export.report.json", ".DS_Store", "Thumbs.db", "desktop.ini":
		return true
	}
	if fsx.IsTempName(name, "") || strings.HasPrefix(name, ".ghlbulk-conflicts-") {
		return true
	}
	for _, d := range demoImports {
		if strings.HasPrefix(name, filepath.Base(d.file)+".") {
			return true
		}
	}
	return false
}

// demoList shows up to three names and how many more there are.
func demoList(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
}
