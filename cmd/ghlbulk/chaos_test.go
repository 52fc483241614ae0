package main

import (
	"os"
	"testing"

	"github.com/ghlbulk/ghlbulk/ghl/sandbox"
)

// TestChaosImport is the long run of `make chaos` (GHLBULK_CHAOS=1): a
// bigger file under every fault the sandbox has, paced by the real default
// limit's shape (scaled up so the run takes minutes, not hours), killed
// again and again at random write counts, then finished. The oracle is the
// issue's: every row in exactly one place, no key with two contacts, notes
// and tasks exactly once, rows_read = created + updated + unchanged +
// rejected.
func TestChaosImport(t *testing.T) {
	if os.Getenv("GHLBULK_CHAOS") == "" {
		t.Skip("long run: make chaos (GHLBULK_CHAOS=1)")
	}
	const rows = 3000
	faults, err := sandbox.ParseFaults("5xx=0.05,drop-before=0.03,drop-after=0.03,422-after=0.01,latency=1ms-8ms,seed=23")
	if err != nil {
		t.Fatal(err)
	}
	sb := startSandbox(t, sandbox.Options{Rate: 400, Faults: faults})
	f := newImpFiles(t)
	file := genPeople(t, f.dir, rows, 41)
	args := f.args(file, peopleMapping)
	killed := 0
	for _, at := range []int64{40, 400, 900, 1500, 2300, 3100} {
		landed, werr, out := killImportAt(t, sb, args, at)
		if landed {
			killed++
			t.Logf("killed at %d writes", sb.Counts().Writes)
		} else {
			t.Logf("run ended (%v) before %d writes\n%s", werr, at, out)
		}
	}
	if killed < 3 {
		t.Errorf("only %d kills landed mid-run", killed)
	}
	rep := mustImport(t, sb, f, file, peopleMapping)
	checkSums(t, rep)
	if rep.RowsRead != rows {
		t.Errorf("final run read %d rows, want %d", rep.RowsRead, rows)
	}
	expRows, want := expectRows(t, sb, file, peopleMapping)
	all := sb.contents(t)
	got := byKey(t, all)
	if len(all) != len(want) {
		t.Errorf("sandbox holds %d contacts, want %d", len(all), len(want))
	}
	checkHolds(t, got, want)
	checkNothingLost(t, expRows, got, rejectsFile(t, f.rejects))
	t.Logf("sandbox: %+v", sb.Counts())
}
