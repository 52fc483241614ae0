package fanout

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

func TestEach(t *testing.T) {
	boom := errors.New("boom")
	for _, tc := range []struct {
		name    string
		workers int
		n       int
		failAt  int // item that fails; -1: none
		want    error
	}{
		{"all run", 3, 50, -1, nil},
		{"zero workers runs one at a time", 0, 5, -1, nil},
		{"first error returned", 1, 10, 4, boom},
		{"no items", 4, 0, -1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items := make([]int, tc.n)
			for i := range items {
				items[i] = i
			}
			var ran, inFlight, peak, liveAfter atomic.Int64
			err := Each(context.Background(), tc.workers, items, func(ctx context.Context, i int) error {
				n := inFlight.Add(1)
				defer inFlight.Add(-1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				ran.Add(1)
				if tc.failAt >= 0 && i > tc.failAt && ctx.Err() == nil {
					liveAfter.Add(1)
				}
				if i == tc.failAt {
					return boom
				}
				return nil
			})
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if tc.want == nil && ran.Load() != int64(tc.n) {
				t.Fatalf("%d items ran, want %d", ran.Load(), tc.n)
			}
			if max := int64(max(tc.workers, 1)); peak.Load() > max {
				t.Fatalf("%d in flight, want at most %d", peak.Load(), max)
			}
			if liveAfter.Load() != 0 {
				// One worker runs in order; the error cancels the pool, so
				// every later item sees a done ctx.
				t.Fatalf("%d items after the error at %d saw a live ctx, want 0", liveAfter.Load(), tc.failAt)
			}
		})
	}
}

// TestEachCancelledStopsSubmitting checks that a ctx cancelled before the
// call submits nothing.
func TestEachCancelledStopsSubmitting(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var ran atomic.Int64
	Each(ctx, 2, []int{1, 2, 3}, func(ctx context.Context, i int) error {
		ran.Add(1)
		return nil
	})
	if ran.Load() != 0 {
		t.Fatalf("%d items ran on a cancelled ctx, want 0", ran.Load())
	}
}
