package diskmap

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"testing"
)

// Values read back the same whether they are still in memory or already
// in the file, a later Put wins, and the file has no name once open.
func TestMapReadsBackAcrossFlushes(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := Open(dir, "scratch-*.db", 3)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if ents, _ := os.ReadDir(dir); runtime.GOOS != "windows" && len(ents) != 0 {
		t.Errorf("files left in %s: %v", dir, ents)
	}
	for k := range int64(10) { // three flushes, one entry left in memory
		if err := m.Put(ctx, k, fmt.Sprint("v", k)); err != nil {
			t.Fatal(err)
		}
	}
	// 9 is in memory; these two fill the batch, so all three go to the
	// file, over what 2 and 5 held there.
	for _, k := range []int64{2, 5} {
		if err := m.Put(ctx, k, fmt.Sprint("again", k)); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		k    int64
		want string
	}{{0, "v0"}, {2, "again2"}, {5, "again5"}, {8, "v8"}, {9, "v9"}, {42, ""}} {
		if got, err := m.Get(ctx, tc.k); got != tc.want || err != nil {
			t.Errorf("Get(%d) = %q, %v; want %q", tc.k, got, err, tc.want)
		}
	}
	if err := m.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if got, _ := m.Get(ctx, 9); got != "v9" {
		t.Errorf("Get(9) after Flush = %q", got)
	}
}
