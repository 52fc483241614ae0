package export

// Who owns what in --out. An export writes into a folder only when the
// folder is new or empty, or a ghlbulk export made it (it holds a ghlbulk
// manifest.json); and it replaces or removes there only the files that
// manifest lists, or that an unfinished export of ours put in its ledger
// (.ghlbulk-staging/files.json) before it wrote any of them. Anything else
// in the folder (a user's notes.txt beside an export, a contacts.csv of
// their own) is the user's: never replaced, never removed. A folder that
// holds other files and no manifest is refused before any request.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ghlbulk/ghlbulk/internal/fsx"
	"github.com/ghlbulk/ghlbulk/sinks"
	"github.com/ghlbulk/ghlbulk/sources"
)

// OutDirError is an --out the export will not write into, because of a file
// there that no ghlbulk export wrote. Nothing was requested or written.
type OutDirError struct {
	Dir     string // the folder, absolute
	Problem string // what is in the way
	Remote  bool   // Dir is a bucket prefix (remote.go)
}

func (e *OutDirError) Error() string {
	if e.Remote {
		return fmt.Sprintf("--out %s: %s; nothing was written: choose an empty (or new) prefix for the export, or the prefix of an earlier ghlbulk export (it holds its manifest.json)", e.Dir, e.Problem)
	}
	return fmt.Sprintf("--out %s: %s; nothing was written: choose an empty (or new) folder for the export, or the folder of an earlier ghlbulk export (it holds its manifest.json)", e.Dir, e.Problem)
}

// ledgerName is the ledger's file name in the staging directory: the
// export files an unfinished export is about to write into --out, so a
// resumed or later run knows them for its own before any manifest does.
const ledgerName = "files.json"

type ledger struct {
	Files []string `json:"files"`
}

// defaultStateName is the state's name in --out when --state is not given
// (the command's default); its SQLite side files and lock end with these.
const defaultStateName = ".ghlbulk.state"

var stateSuffixes = []string{"", "-wal", "-shm", "-journal", ".lock"}

// osLitter is what file managers drop into any folder they show.
var osLitter = []string{".DS_Store", "Thumbs.db", "desktop.ini"}

// outDir is what --out holds, as the rules above see it.
type outDir struct {
	dir      string
	exists   bool
	manifest bool            // it holds a ghlbulk manifest.json
	owned    map[string]bool // files a manifest or the ledger lists
	present  map[string]bool // every entry's name
	foreign  []string        // entries no ghlbulk export made, sorted
	keys     map[string]bool // a bucket prefix's objects (remote.go); nil for a folder
}

// CheckOutDir refuses, with an *OutDirError, an --out whose files an export
// with cfg would put at risk: a folder with files of its own and no ghlbulk
// manifest, or a file the export would replace that the manifest does not
// list. statePath is --state (it may sit in the folder); "" for none.
func CheckOutDir(cfg Config, statePath string) error {
	abs, err := filepath.Abs(cfg.OutDir)
	if err != nil {
		return fmt.Errorf("--out %q: %w", cfg.OutDir, err)
	}
	od, err := readOutDir(abs, statePath)
	if err != nil || !od.exists {
		return err
	}
	return od.judge(cfg, abs, false)
}

// judge refuses what CheckOutDir refuses, for a folder or (remote) a
// bucket prefix named dir.
func (od *outDir) judge(cfg Config, dir string, remote bool) error {
	if !od.exists {
		return nil
	}
	what, holds := "folder", "files"
	if remote {
		what, holds = "prefix", "objects"
	}
	if !od.manifest && len(od.foreign) > 0 {
		return &OutDirError{Dir: dir, Remote: remote, Problem: fmt.Sprintf("the %s holds %s no ghlbulk export wrote (%s) and no ghlbulk manifest.json", what, holds, listNames(od.foreign))}
	}
	if cfg.Layout == LayoutRun {
		return nil // every run writes into a new run=<time>/ folder
	}
	targets, err := targetFiles(cfg)
	if err != nil {
		return err
	}
	for _, name := range targets {
		if od.has(name) && !od.owned[name] {
			return &OutDirError{Dir: dir, Remote: remote, Problem: fmt.Sprintf("%s is there, this export would replace it, and the %s's manifest.json does not list it as a file of an earlier export", name, what)}
		}
	}
	return nil
}

// readOutDir reads dir's entries and sorts them into ours and not ours.
func readOutDir(dir, statePath string) (*outDir, error) {
	od := &outDir{dir: dir, owned: map[string]bool{}, present: map[string]bool{}}
	ents, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return od, nil
	case err != nil:
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return nil, &OutDirError{Dir: dir, Problem: "it is a file, not a folder"}
		}
		return nil, fmt.Errorf("--out %s: %w", dir, err)
	}
	od.exists = true
	for _, e := range ents {
		od.present[e.Name()] = true
	}
	if od.present[sinks.ManifestName] {
		if m, err := sinks.ReadManifest(filepath.Join(dir, sinks.ManifestName)); err == nil && isOurManifest(m) {
			od.manifest = true
			od.owned[sinks.ManifestName] = true
			for _, name := range manifestFiles(m) {
				od.owned[name] = true
			}
		}
	}
	for _, name := range readLedger(dir) {
		od.owned[name] = true
	}
	stateDir, stateBase := "", ""
	if statePath != "" {
		if abs, err := filepath.Abs(statePath); err == nil {
			stateDir, stateBase = filepath.Dir(abs), filepath.Base(abs)
		}
	}
	for _, e := range ents {
		name := e.Name()
		switch {
		case od.owned[name], oursByName(name, e.IsDir()):
		case name == changesDirName && e.IsDir() && od.ownsUnder(name):
		case stateDir == dir && isStateFile(name, stateBase):
		default:
			od.foreign = append(od.foreign, name)
		}
	}
	slices.Sort(od.foreign)
	return od, nil
}

// has reports whether the folder holds name (a plain name, or changes/NAME).
func (od *outDir) has(name string) bool {
	if od.keys != nil {
		return od.keys[name]
	}
	if !strings.Contains(name, "/") {
		return od.present[name]
	}
	_, err := os.Lstat(filepath.Join(od.dir, filepath.FromSlash(name)))
	return err == nil
}

// ownsUnder reports whether a manifest or the ledger lists a file in the
// folder dir of --out (a --snapshot run's changes/).
func (od *outDir) ownsUnder(dir string) bool {
	for name := range od.owned {
		if strings.HasPrefix(name, dir+"/") {
			return true
		}
	}
	return false
}

// oursByName reports whether an entry of --out is one of ghlbulk's own by
// its name alone: the default state, staging, temporary files and run
// folders.
func oursByName(name string, dir bool) bool {
	switch {
	case name == stageDirName, isStateFile(name, defaultStateName), slices.Contains(osLitter, name):
		return true
	case dir && (strings.HasPrefix(name, ".ghlbulk-state-") || strings.HasPrefix(name, "run=")):
		return true
	case !dir && (fsx.IsTempName(name, "") || isOldTempName(name)):
		return true
	}
	return false
}

func isStateFile(name, state string) bool {
	for _, suf := range stateSuffixes {
		if name == state+suf {
			return true
		}
	}
	return false
}

// exportNames are every file name an export may write into its folder.
func exportNames() []string {
	names := []string{sinks.ManifestName}
	for _, ent := range append(slices.Clone(exportEntities), sinks.EntityDeleted) {
		for _, f := range []string{sinks.FormatParquet, sinks.FormatCSV} {
			names = append(names, sinks.FileName(ent, f))
		}
	}
	return names
}

// isOldTempName reports a temporary file of an older ghlbulk, which named
// them ".NAME.DIGITS.tmp": only for the names an export writes.
func isOldTempName(name string) bool {
	for _, n := range exportNames() {
		rest, ok := strings.CutPrefix(name, "."+n+".")
		if !ok {
			continue
		}
		if digits, ok := strings.CutSuffix(rest, ".tmp"); ok && digits != "" && strings.Trim(digits, "0123456789") == "" {
			return true
		}
	}
	return false
}

// isOurManifest tells a ghlbulk export manifest from another program's
// manifest.json: every ghlbulk version writes these fields.
func isOurManifest(m sinks.Manifest) bool {
	return m.SchemaVersion > 0 && (m.Format == sinks.FormatParquet || m.Format == sinks.FormatCSV) && m.LocationID != ""
}

// manifestFiles are the files a manifest says its export wrote: its files
// map and, for a manifest that lacks one, the names its format, include
// list and mode imply. Only plain names in the folder count, so a manifest
// edited to name "../x" can never lead a run to remove x.
func manifestFiles(m sinks.Manifest) []string {
	var names []string
	for _, name := range m.Files {
		names = append(names, name)
	}
	for _, name := range m.Changes {
		names = append(names, name)
	}
	names = append(names, sinks.FileName(sinks.EntityContacts, m.Format))
	for _, inc := range m.Include {
		names = append(names, sinks.FileName(inc, m.Format))
	}
	if m.Mode == ModeIncremental {
		names = append(names, sinks.FileName(sinks.EntityDeleted, m.Format))
	}
	return plainNames(names)
}

// plainNames keeps the export file names among names (no other paths than
// a --snapshot run's changes/<name>), sorted and without repeats.
func plainNames(names []string) []string {
	known := exportNames()
	var out []string
	for _, n := range names {
		base := strings.TrimPrefix(n, changesDirName+"/")
		if slices.Contains(known, base) && base != sinks.ManifestName {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// targetFiles are the export files (manifest aside) a run with cfg writes
// straight into --out with layout replace.
func targetFiles(cfg Config) ([]string, error) {
	format := cfg.Format
	if format == "" {
		format = sinks.FormatParquet
	}
	inc, err := sources.ParseInclude(cfg.Include)
	if err != nil {
		return nil, err
	}
	var names []string
	ents := append([]string{sinks.EntityContacts}, inc.Names()...)
	for _, ent := range ents {
		names = append(names, sinks.FileName(ent, format))
	}
	if cfg.Snapshot {
		// The run's changes go in changes/, the deleted file with them.
		for _, ent := range append(ents, sinks.EntityDeleted) {
			names = append(names, changesDirName+"/"+sinks.FileName(ent, format))
		}
	} else if cfg.Incremental {
		names = append(names, sinks.FileName(sinks.EntityDeleted, format))
	}
	return append(names, sinks.ManifestName), nil
}

func ledgerPath(out string) string { return filepath.Join(out, stageDirName, ledgerName) }

// readLedger is the ledger's file names; a missing or unreadable ledger
// names none (so owns nothing).
func readLedger(out string) []string {
	return ledgerNames(os.ReadFile(ledgerPath(out)))
}

// ledgerNames is what a ledger read (from the folder or the bucket) lists.
func ledgerNames(raw []byte, err error) []string {
	var l ledger
	if err != nil || json.Unmarshal(raw, &l) != nil {
		return nil
	}
	return plainNames(l.Files)
}

// addToLedger records names as files this export is about to write into
// out, before it writes any of them.
func addToLedger(out string, names []string) error {
	all := plainNames(append(readLedger(out), names...))
	raw, err := json.Marshal(ledger{Files: all})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(out, stageDirName), 0o755); err != nil {
		return fmt.Errorf("creating the staging directory: %w", err)
	}
	if err := fsx.WriteFile(ledgerPath(out), raw); err != nil {
		return fmt.Errorf("staging: %w", err)
	}
	return nil
}

// removeLeftovers removes the temporary files killed runs left in dir:
// ghlbulk's (fsx.RemoveTemps: .NAME.ghlbulk-<pid>-<n>.tmp of a process
// that is gone) and an older ghlbulk's for the export's own file names.
func removeLeftovers(dir string) error {
	if _, err := fsx.RemoveTemps(dir, ""); err != nil {
		return err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil // RemoveTemps read it a moment ago; nothing to add
	}
	for _, e := range ents {
		if e.Type().IsRegular() && isOldTempName(e.Name()) {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("removing the leftover temporary file %s: %w", filepath.Join(dir, e.Name()), err)
			}
		}
	}
	return nil
}

// listNames shows up to three names and how many more there are.
func listNames(names []string) string {
	if len(names) <= 3 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:3], ", "), len(names)-3)
}
