package export

// Export to object storage (--out s3://|gs://|azblob://|file://). How it
// keeps the local export's promises in a bucket:
//
//   - The export runs exactly as into a folder, into a local working
//     folder (--work-dir, Config.OutDir), then publishes: every data file
//     first, manifest.json last, so a reader starting from the manifest
//     never sees a half-written run. Objects appear whole (an upload is
//     atomic in every store). Only file:// writes aside, under a
//     temporary name a killed upload leaves behind: the next run to
//     publish there removes those an hour old (sweepTemps).
//   - What a resumed run needs lives beside the output under a hidden
//     prefix: the state at .ghlbulk/state.db and the staged pages and the
//     ledger under .ghlbulk/staging/ (a mirror of the work folder's
//     .ghlbulk-staging/). Each page's staged files are uploaded right after
//     the page is checkpointed; the state after them, so a state in the
//     bucket only ever names pages that are there too. Pull reads them
//     back when the work folder lacks them: a run killed on one machine
//     resumes on another with an empty --work-dir.
//   - Ownership: the prefix is judged as a folder is (outdir.go), before
//     any request to HighLevel: objects no ghlbulk export wrote and no
//     manifest there is a refusal (*OutDirError). After the manifest is
//     written, the objects the previous manifest or the ledger listed that
//     the new one does not are deleted; nothing else ever is.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/ghlbulk/ghlbulk/objstore"
	"github.com/ghlbulk/ghlbulk/sinks"
)

// The hidden prefix in the bucket and what it holds.
const (
	remoteHidden = ".ghlbulk/"
	remoteState  = remoteHidden + "state.db"
	remoteStage  = remoteHidden + "staging/" // mirrors WORK/.ghlbulk-staging/
)

// DefaultStateEvery is how often, at most, the state is uploaded while
// pages are staged. The state holds every contact id listed (tens of MB
// at a million contacts), so uploading it at every page (500 contacts,
// a second or two) would send the square of its size over a run; every
// 30 s loses at most 30 s of listing to a kill. It is also uploaded at
// each stage boundary (listing done, related listings done), at a stop
// (SIGINT/SIGTERM, quota, error) and after the manifest, and never more
// often than ten times its own upload time, so that a slow link spends at
// most a tenth of the run on it.
const DefaultStateEvery = 30 * time.Second

// Remote is the bucket prefix an export publishes to. Open it with
// OpenRemote, bring back what a resumed run needs with Pull, and hand it
// to Run in Config.Remote; one Remote serves one export (one location).
type Remote struct {
	b         *objstore.Bucket
	owned     map[string]bool // objects an earlier export of ours listed (manifest, ledger)
	every     time.Duration   // SetStateEvery's, if everySet
	everySet  bool
	lastState time.Time
	stateCost time.Duration        // how long the last state upload took
	uploaded  map[string]stageMark // staged files in the bucket, by key
	runDirs   map[string]bool      // run=<time> folders in the bucket (--layout run)
	log       *slog.Logger
}

// stageMark is a staged file as it was uploaded.
type stageMark struct {
	size int64
	mod  time.Time
}

// OpenRemote opens the bucket at rawURL and judges its prefix as CheckOutDir
// judges a folder: objects no ghlbulk export wrote and no ghlbulk manifest,
// or an object this export would replace that the manifest does not list,
// is an *OutDirError. It reads and lists only.
func OpenRemote(ctx context.Context, rawURL string, cfg Config) (*Remote, error) {
	b, err := objstore.Open(ctx, rawURL)
	if err != nil {
		return nil, err
	}
	rm := &Remote{b: b, uploaded: map[string]stageMark{}, runDirs: map[string]bool{}, log: slog.New(slog.DiscardHandler)}
	od, err := rm.readPrefix(ctx)
	if err == nil {
		err = od.judge(cfg, b.String(), true)
	}
	if err != nil {
		b.Close()
		return nil, err
	}
	rm.owned = od.owned
	return rm, nil
}

// URL is the bucket prefix as logs and errors show it (no query).
func (rm *Remote) URL() string { return rm.b.String() }

// Close releases the bucket.
func (rm *Remote) Close() error { return rm.b.Close() }

// SetStateEvery sets how often, at most, the state is uploaded while pages
// are staged (0: at every page); see DefaultStateEvery.
func (rm *Remote) SetStateEvery(d time.Duration) { rm.every, rm.everySet = d, true }

// SetLogger sets where the remote's steps are logged.
func (rm *Remote) SetLogger(l *slog.Logger) {
	if l != nil {
		rm.log = l
	}
}

// DefaultWorkDir is the working folder for an export to rawURL when
// --work-dir is not given: under the user's cache folder, one per URL.
func DefaultWorkDir(rawURL string) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the export's working copy (%w): pass --work-dir DIR", err)
	}
	sum := sha256.Sum256([]byte(objstore.Redact(rawURL)))
	return filepath.Join(cache, "ghlbulk", "export", hex.EncodeToString(sum[:6])), nil
}

// readPrefix lists the prefix and sorts its objects into ours and not
// ours, as readOutDir does a folder's entries.
func (rm *Remote) readPrefix(ctx context.Context) (*outDir, error) {
	objs, err := rm.b.List(ctx, "")
	if err != nil {
		return nil, err
	}
	od := &outDir{dir: rm.b.String(), exists: len(objs) > 0, owned: map[string]bool{}, present: map[string]bool{}, keys: map[string]bool{}}
	for _, o := range objs {
		od.keys[o.Key] = true
	}
	if od.keys[sinks.ManifestName] {
		if m, ok := rm.readManifest(ctx); ok {
			od.manifest = true
			od.owned[sinks.ManifestName] = true
			for _, name := range manifestFiles(m) {
				od.owned[name] = true
			}
		}
	}
	for _, name := range rm.readLedger(ctx) {
		od.owned[name] = true
	}
	for _, o := range objs {
		top, _, nested := strings.Cut(o.Key, "/")
		switch {
		case od.owned[o.Key], strings.HasPrefix(o.Key, remoteHidden):
		case nested && strings.HasPrefix(top, "run="):
			rm.runDirs[top] = true
		case !nested && slices.Contains(osLitter, o.Key):
		default:
			od.foreign = append(od.foreign, o.Key)
		}
	}
	slices.Sort(od.foreign)
	return od, nil
}

// readManifest reads the prefix's manifest; ok only for a ghlbulk one.
func (rm *Remote) readManifest(ctx context.Context) (sinks.Manifest, bool) {
	var m sinks.Manifest
	raw, err := rm.b.ReadBytes(ctx, sinks.ManifestName)
	if err != nil || json.Unmarshal(raw, &m) != nil {
		return m, false
	}
	return m, isOurManifest(m)
}

// readLedger is the names the bucket's ledger lists; none when it has none.
func (rm *Remote) readLedger(ctx context.Context) []string {
	return ledgerNames(rm.b.ReadBytes(ctx, remoteStage+ledgerName))
}

// Pull brings into the work folder (cfg.OutDir) what the bucket holds and
// the folder lacks: the state at statePath when there is no file there
// ("" skips it: --restart), the staged pages and ledger of an unfinished
// run, the manifest, and with --snapshot the files it lists (the snapshot
// the run merges into). A file the folder holds with the same bytes is
// not downloaded again.
func (rm *Remote) Pull(ctx context.Context, cfg Config, statePath string) error {
	if err := rm.pullState(ctx, statePath); err != nil {
		return err
	}
	work, err := filepath.Abs(cfg.OutDir)
	if err != nil {
		return err
	}
	staged, err := rm.b.List(ctx, remoteStage)
	if err != nil {
		return err
	}
	for _, o := range staged {
		rel := strings.TrimPrefix(o.Key, remoteStage)
		p := filepath.Join(work, stageDirName, filepath.FromSlash(rel))
		if _, err := rm.b.Fetch(ctx, o.Key, p); err != nil {
			return err
		}
		rm.mark(o.Key, p)
	}
	if cfg.Layout == LayoutRun {
		return nil // every run writes a new run=<time>/: nothing to build on
	}
	m, ok := rm.readManifest(ctx)
	if !ok {
		return nil
	}
	names := []string{sinks.ManifestName}
	if cfg.Snapshot && m.Snapshot {
		for _, name := range m.Files {
			names = append(names, name)
		}
	}
	for _, name := range plainNamesWith(names) {
		if _, err := rm.b.Fetch(ctx, name, filepath.Join(work, filepath.FromSlash(name))); err != nil {
			return err
		}
	}
	return nil
}

// plainNamesWith is plainNames that keeps the manifest's own name.
func plainNamesWith(names []string) []string {
	out := plainNames(names)
	if slices.Contains(names, sinks.ManifestName) {
		out = append([]string{sinks.ManifestName}, out...)
	}
	return out
}

// pullState downloads the bucket's state to statePath when no state is
// there. SQLite side files left beside a missing state belong to another
// database now: removed first, or SQLite would replay them into this one.
func (rm *Remote) pullState(ctx context.Context, statePath string) error {
	if statePath == "" {
		return nil
	}
	if _, err := os.Stat(statePath); !errors.Is(err, fs.ErrNotExist) {
		return nil // the work folder's own state (or a problem OpenStore reports)
	}
	ok, err := rm.b.Exists(ctx, remoteState)
	if err != nil || !ok {
		return err
	}
	for _, suf := range []string{"-wal", "-shm", "-journal"} {
		if err := os.Remove(statePath + suf); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s left beside a missing state: %w", statePath+suf, err)
		}
	}
	rm.log.Info("reading the export's state from the bucket", "url", rm.URL())
	return rm.b.Download(ctx, remoteState, statePath)
}

// stageKey is the bucket key of a file in the work folder's staging.
func (e *exporter) stageKey(p string) (string, error) {
	rel, err := filepath.Rel(filepath.Join(e.cfg.OutDir, stageDirName), p)
	if err != nil || strings.HasPrefix(rel, "..") {
		return "", fmt.Errorf("staged file %s outside %s", p, filepath.Join(e.cfg.OutDir, stageDirName))
	}
	return remoteStage + filepath.ToSlash(rel), nil
}

// mark records the staged file at p as the bucket's copy of key.
func (rm *Remote) mark(key, p string) {
	if fi, err := os.Stat(p); err == nil {
		rm.uploaded[key] = stageMark{size: fi.Size(), mod: fi.ModTime()}
	}
}

// uploadStaged uploads the staged file at p unless the bucket has it as it
// is.
func (e *exporter) uploadStaged(ctx context.Context, p string) error {
	rm := e.cfg.Remote
	key, err := e.stageKey(p)
	if err != nil {
		return err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if m, ok := rm.uploaded[key]; ok && m.size == fi.Size() && m.mod.Equal(fi.ModTime()) {
		return nil
	}
	if err := rm.b.Upload(ctx, key, p); err != nil {
		return err
	}
	rm.uploaded[key] = stageMark{size: fi.Size(), mod: fi.ModTime()}
	return nil
}

// remoteLedger uploads the ledger as soon as it names this run's files,
// before any of them is published.
func (e *exporter) remoteLedger(ctx context.Context) error {
	if e.cfg.Remote == nil {
		return nil
	}
	return e.uploadStaged(ctx, ledgerPath(e.cfg.OutDir))
}

// remotePage uploads the staged files of one checkpointed page, then the
// state if it is due.
func (e *exporter) remotePage(ctx context.Context, r *exportRun, page int, counts map[string]int64) error {
	if e.cfg.Remote == nil {
		return nil
	}
	for _, ent := range exportEntities {
		if counts[ent] == 0 {
			continue
		}
		if err := e.uploadStaged(ctx, stagePath(r, page, ent)); err != nil {
			return err
		}
	}
	return e.saveRemoteState(ctx, false)
}

// remoteBoundary uploads every staged file the bucket lacks, then the
// state: at the end of a stage of the run, and at a stop.
func (e *exporter) remoteBoundary(ctx context.Context, r *exportRun) error {
	if e.cfg.Remote == nil || r == nil {
		return nil
	}
	ents, err := os.ReadDir(r.StageDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for _, d := range ents {
		if d.Type().IsRegular() && !strings.HasPrefix(d.Name(), ".") {
			if err := e.uploadStaged(ctx, filepath.Join(r.StageDir, d.Name())); err != nil {
				return err
			}
		}
	}
	return e.saveRemoteState(ctx, true)
}

// remoteStop saves what a resumed run needs when the run stops with err
// (interrupted, quota, a fault), on a context of its own: the run's may be
// cancelled. A failure here is logged; the bucket keeps its last state,
// which names only pages it has.
func (e *exporter) remoteStop(ctx context.Context, r *exportRun) {
	if e.cfg.Remote == nil || r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if err := e.remoteBoundary(ctx, r); err != nil {
		e.log.Warn("could not save the export's state in the bucket: a resumed run redoes the pages since the last save", "url", e.cfg.Remote.URL(), "err", err)
	}
}

// saveRemoteState uploads a consistent copy of the state when due (or
// when force).
func (e *exporter) saveRemoteState(ctx context.Context, force bool) error {
	rm := e.cfg.Remote
	every := DefaultStateEvery
	if rm.everySet {
		every = rm.every
	}
	every = max(every, 10*rm.stateCost)
	if !force && !rm.lastState.IsZero() && time.Since(rm.lastState) < every {
		return nil
	}
	start := time.Now()
	tmp := e.store.Path() + ".upload"
	defer os.Remove(tmp)
	if err := e.store.CopyTo(ctx, tmp); err != nil {
		return err
	}
	if err := rm.b.Upload(ctx, remoteState, tmp); err != nil {
		return err
	}
	rm.lastState, rm.stateCost = time.Now(), time.Since(start)
	return nil
}

// publish uploads the run's files from the work folder, the manifest
// last, then deletes the objects of ours the new manifest no longer lists
// and the bucket's ledger.
func (e *exporter) publish(ctx context.Context, r *exportRun) error {
	rm := e.cfg.Remote
	if rm == nil {
		return nil
	}
	m, err := sinks.ReadManifest(filepath.Join(r.FinalDir, sinks.ManifestName))
	if err != nil {
		return err
	}
	rm.sweepTemps(ctx)
	base := ""
	if r.FinalDir != e.cfg.OutDir {
		base = filepath.Base(r.FinalDir) + "/"
	}
	names := slices.Concat(slices.Collect(maps.Values(m.Files)), slices.Collect(maps.Values(m.Changes)))
	slices.Sort(names)
	written := map[string]bool{}
	for _, name := range names {
		if err := rm.b.Upload(ctx, base+name, filepath.Join(r.FinalDir, filepath.FromSlash(name))); err != nil {
			return err
		}
		written[base+name] = true
	}
	if err := rm.b.Upload(ctx, base+sinks.ManifestName, filepath.Join(r.FinalDir, sinks.ManifestName)); err != nil {
		return err
	}
	e.log.Info("published the export", "url", rm.URL(), "files", len(written)+1)
	for _, name := range readLedger(e.cfg.OutDir) {
		rm.owned[name] = true
	}
	for _, key := range slices.Sorted(maps.Keys(rm.owned)) {
		if written[key] || key == sinks.ManifestName || e.cfg.Layout == LayoutRun {
			continue
		}
		if err := rm.b.Delete(ctx, key); err != nil {
			return err
		}
	}
	if e.cfg.Layout == LayoutReplace {
		rm.owned = written
		rm.owned[sinks.ManifestName] = true
	}
	return rm.b.Delete(ctx, remoteStage+ledgerName)
}

// sweepTemps removes what uploads to a file:// prefix killed midway left
// (objstore.SweepTemps). Here, once the run publishes: a refused or failed
// run writes nothing to the prefix, and no upload of this run is in
// flight (each returns before the next step). Leftovers are litter, not
// data: a failure is logged, and the next export tries again.
func (rm *Remote) sweepTemps(ctx context.Context) {
	n, err := rm.b.SweepTemps(ctx)
	if n > 0 {
		rm.log.Info("removed temporary files killed uploads left", "url", rm.URL(), "files", n)
	}
	if err != nil {
		rm.log.Warn("could not remove temporary files killed uploads left; the next export tries again", "err", err)
	}
}

// remoteFinished saves the finished state and deletes every staged page
// from the bucket: the run's, and those of an earlier run killed after it
// uploaded pages and before the state naming it followed them (the state
// is uploaded at most every DefaultStateEvery), which the resumed run
// could not know of and started afresh without. Once a run is finished
// no staged page is any run's.
func (e *exporter) remoteFinished(ctx context.Context, r *exportRun) error {
	if e.cfg.Remote == nil {
		return nil
	}
	if err := e.saveRemoteState(ctx, true); err != nil {
		return err
	}
	if err := e.dropRemoteStage(ctx, remoteStage); err != nil {
		return err
	}
	e.dropLocalRunDir(r)
	return nil
}

// dropLocalRunDir removes, with --layout run, the finished run's folder
// from the work folder: the bucket has it, and no later run reads it (each
// writes a run folder of its own), so kept it would be a full copy of
// every run piling up under the user's cache. A failure costs only disk:
// logged.
func (e *exporter) dropLocalRunDir(r *exportRun) {
	if e.cfg.Layout != LayoutRun || filepath.Dir(r.FinalDir) != filepath.Clean(e.cfg.OutDir) || !strings.HasPrefix(filepath.Base(r.FinalDir), "run=") {
		return
	}
	if err := os.RemoveAll(r.FinalDir); err != nil {
		e.log.Warn("could not remove the published run's copy from the work folder", "dir", r.FinalDir, "err", err)
	}
}

// remoteDropStage deletes run r's staged pages from the bucket.
func (e *exporter) remoteDropStage(ctx context.Context, r *exportRun) error {
	if e.cfg.Remote == nil {
		return nil
	}
	return e.dropRemoteStage(ctx, remoteStage+path.Base(filepath.ToSlash(r.StageDir))+"/")
}

// dropRemoteStage deletes every object under prefix.
func (e *exporter) dropRemoteStage(ctx context.Context, prefix string) error {
	objs, err := e.cfg.Remote.b.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, o := range objs {
		if err := e.cfg.Remote.b.Delete(ctx, o.Key); err != nil {
			return err
		}
		delete(e.cfg.Remote.uploaded, o.Key)
	}
	return nil
}

// rebase points a resumed run's folders into this work folder: a run
// begun on another machine recorded that machine's.
func (e *exporter) rebase(r *exportRun) {
	if e.cfg.Remote == nil {
		return
	}
	r.StageDir = filepath.Join(e.cfg.OutDir, stageDirName, r.RunID)
	if r.FinalDir != "" && strings.HasPrefix(filepath.Base(r.FinalDir), "run=") {
		r.FinalDir = filepath.Join(e.cfg.OutDir, filepath.Base(r.FinalDir))
	} else {
		r.FinalDir = e.cfg.OutDir
	}
}

// runDirTaken reports whether the bucket already holds run folder name.
// A new --layout run export must not take it even when the work folder
// lacks it (a new machine, an emptied --work-dir): its files would
// replace an earlier run's.
func (rm *Remote) runDirTaken(name string) bool {
	return rm != nil && rm.runDirs[name]
}

// scopeOut is what names the output in the state's scope: the bucket URL
// for a remote export (the work folder may differ from run to run), else
// the folder.
func (e *exporter) scopeOut(abs string) string {
	if e.cfg.Remote != nil {
		return e.cfg.Remote.URL()
	}
	return abs
}
