// Package fanout owns the project's one bounded worker-pool idiom: a
// scoped conc pool that cancels the rest on the first error and returns
// only that error. Jobs that send one request per item (export's related
// records, undo's deletes, verify's read-back) run it here instead of
// spelling the pool out each time.
//
// It sits on the lowest floor and imports none of ghlbulk's packages; only
// jobs/* (and the engine) may use it, never sources, sinks or transform,
// whose types start no goroutines.
package fanout

import (
	"context"

	"github.com/sourcegraph/conc/pool"
)

// Each runs fn for every item, at most workers at a time, and returns the
// first error; that error cancels the ctx the other calls see. Go and Wait
// run on the caller's goroutine (conc issue #107), and no new item is
// submitted once ctx is done, so a cancelled run stops submitting at once.
// A workers of 0 or less means one.
func Each[T any](ctx context.Context, workers int, items []T, fn func(ctx context.Context, item T) error) error {
	if workers <= 0 {
		workers = 1
	}
	p := pool.New().WithContext(ctx).WithCancelOnError().WithFirstError().WithMaxGoroutines(workers)
	for _, it := range items {
		if ctx.Err() != nil {
			break
		}
		p.Go(func(ctx context.Context) error { return fn(ctx, it) })
	}
	return p.Wait()
}
