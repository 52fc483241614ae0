package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/ghlbulk/ghlbulk/record"
)

// mapped is one batch of a file after the mapping: rows first..first+n-1.
type mapped struct {
	first, n int64
	recs     []record.Row
	// digests are RowDigest(Key, Hash) of each of recs (0 where Hash is
	// ""), taken on the mapping's goroutine rather than the in-order one.
	digests []uint64
	err     error
}

// eachBatch reads file's batches from src, maps them and hands each to fn
// in input order. A dry run with TransformWorkers above 1 maps that many
// batches at once while the source reads ahead (validate's CPU is the
// mapping's); a run that writes maps each batch as it is read, one at a
// time, as it always has. A nil return with ctx done or a fault recorded
// means reading stopped early.
func (r *importRun) eachBatch(ctx context.Context, src record.Source, file string, fn func(mapped) error) error {
	if !r.cfg.DryRun || r.cfg.TransformWorkers <= 1 {
		return r.eachBatchInOrder(ctx, src, file, fn)
	}
	return r.eachBatchParallel(ctx, src, file, fn)
}

func (r *importRun) stopReading(ctx context.Context) bool {
	return ctx.Err() != nil || r.firstFault() != nil
}

func (r *importRun) eachBatchInOrder(ctx context.Context, src record.Source, file string, fn func(mapped) error) error {
	next := int64(1)
	for !r.stopReading(ctx) {
		b, ok, err := r.nextBatch(ctx, src, file, &next)
		if err != nil || !ok {
			return err
		}
		if err := fn(r.mapBatch(b, file)); err != nil {
			return err
		}
	}
	return nil
}

// nextBatch reads the next batch that has rows; ok is false at the end of
// the file, or when ctx is done.
func (r *importRun) nextBatch(ctx context.Context, src record.Source, file string, next *int64) (b record.Batch, ok bool, err error) {
	for {
		b, err = src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return b, false, nil
		}
		if err != nil {
			if ctx.Err() != nil {
				return b, false, nil
			}
			return b, false, inputFault(file, err)
		}
		if b.Record == nil {
			continue
		}
		if b.FirstRow < *next {
			b.Record.Release()
			return b, false, &record.FaultError{Kind: record.FaultAPI, Err: fmt.Errorf("input %s: batch at row %d, after row %d was read: %w", file, b.FirstRow, *next-1, ErrLoop)}
		}
		*next = b.FirstRow + b.Record.NumRows()
		return b, true, nil
	}
}

// mapBatch applies the mapping to b and releases it.
func (r *importRun) mapBatch(b record.Batch, file string) mapped {
	n := b.Record.NumRows()
	m := mapped{first: b.FirstRow, n: n, recs: r.cfg.Transform(b.Record, b.File, b.FirstRow)}
	b.Record.Release()
	if int64(len(m.recs)) != n {
		m.err = fmt.Errorf("input %s: rows %d-%d: the mapping gave %d rows for %d", file, m.first, m.first+n-1, len(m.recs), n)
		return m
	}
	m.digests = make([]uint64, len(m.recs))
	for i := range m.recs {
		if rec := &m.recs[i]; rec.Hash != "" {
			m.digests[i] = RowDigest(rec.Key, rec.Hash)
		}
	}
	return m
}

// eachBatchParallel is eachBatch on TransformWorkers goroutines: one reads,
// the workers map, and the caller's goroutine takes the results in the
// order the batches were read (each batch's result has its own channel,
// queued in read order), so what fn sees is what eachBatchInOrder gives.
// At most 2×workers batches are in hand at once.
func (r *importRun) eachBatchParallel(ctx context.Context, src record.Source, file string, fn func(mapped) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := r.cfg.TransformWorkers
	type job struct {
		b   record.Batch
		out chan mapped
	}
	jobs := make(chan job)
	order := make(chan chan mapped, w)
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				j.out <- r.mapBatch(j.b, file)
			}
		}()
	}
	go func() { // the reader: the only goroutine that touches src until order is closed
		defer close(order)
		defer close(jobs)
		next := int64(1)
		for ctx.Err() == nil {
			b, ok, err := r.nextBatch(ctx, src, file, &next)
			out := make(chan mapped, 1)
			if err != nil {
				out <- mapped{err: err}
			}
			select {
			case order <- out:
			case <-ctx.Done():
				if ok {
					b.Record.Release()
				}
				return
			}
			if err != nil || !ok {
				if !ok && err == nil {
					out <- mapped{n: -1} // the end
				}
				return
			}
			jobs <- job{b: b, out: out}
		}
	}()
	err := r.takeInOrder(ctx, order, fn)
	cancel()
	for out := range order { // drain: the reader and workers finish their batches
		<-out
	}
	wg.Wait()
	return err
}

// takeInOrder hands fn each batch's result in read order until the end, an
// error, or a stop.
func (r *importRun) takeInOrder(ctx context.Context, order chan chan mapped, fn func(mapped) error) error {
	for out := range order {
		m := <-out
		if m.n < 0 && m.err == nil {
			return nil
		}
		if m.err != nil {
			return m.err
		}
		if r.stopReading(ctx) {
			return nil
		}
		if err := fn(m); err != nil {
			return err
		}
	}
	return nil
}
