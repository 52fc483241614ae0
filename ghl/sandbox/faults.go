package sandbox

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// FaultSpec is what --faults injects into API requests (not into /oauth).
// Shares are probabilities in [0, 1] and add up to at most 1; each request
// draws once and gets at most one of the four faults, plus the latency.
type FaultSpec struct {
	Err5xx      float64       // answered 500, 502 or 503 before anything is applied
	DropBefore  float64       // connection dropped before the request is applied
	DropAfter   float64       // request applied, then the connection dropped with no answer
	Fail422     float64       // request applied, then answered 422 (the real API has done this, #64)
	Latency     time.Duration // added to every request
	LatencyMax  time.Duration // if above Latency, the added latency is uniform in [Latency, LatencyMax]
	Seed        int64         // the n-th request's draw depends only on Seed and n
	seedPresent bool
}

// ParseFaults reads the --faults syntax: comma-separated key=value pairs,
//
//	5xx=0.05          share answered 500/502/503 (also "5%")
//	drop-before=0.02  share whose connection is dropped before it is applied
//	drop-after=0.02   share applied and then dropped without an answer
//	422-after=0.01    share applied and then answered 422
//	latency=20ms      added to every request; "5ms-50ms" for a uniform range
//	seed=7            seed of the draws (default 1)
//
// "" and "none" mean no faults.
func ParseFaults(s string) (FaultSpec, error) {
	var f FaultSpec
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return f, nil
	}
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return FaultSpec{}, fmt.Errorf("sandbox: faults %q: %q is not key=value (keys: 5xx, drop-before, drop-after, 422-after, latency, seed)", s, part)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var err error
		switch k {
		case "5xx":
			f.Err5xx, err = parseShare(v)
		case "drop-before":
			f.DropBefore, err = parseShare(v)
		case "drop-after":
			f.DropAfter, err = parseShare(v)
		case "422-after":
			f.Fail422, err = parseShare(v)
		case "latency":
			lo, hi, isRange := strings.Cut(v, "-")
			if f.Latency, err = time.ParseDuration(lo); err == nil && isRange {
				f.LatencyMax, err = time.ParseDuration(hi)
			}
		case "seed":
			f.Seed, err = strconv.ParseInt(v, 10, 64)
			f.seedPresent = true
		default:
			return FaultSpec{}, fmt.Errorf("sandbox: faults %q: unknown key %q (keys: 5xx, drop-before, drop-after, 422-after, latency, seed)", s, k)
		}
		if err != nil {
			return FaultSpec{}, fmt.Errorf("sandbox: faults %q: %s: %w", s, k, err)
		}
	}
	if !f.seedPresent {
		f.Seed = 1
	}
	if err := f.validate(); err != nil {
		return FaultSpec{}, err
	}
	return f, nil
}

func parseShare(v string) (float64, error) {
	pct := strings.HasSuffix(v, "%")
	x, err := strconv.ParseFloat(strings.TrimSuffix(v, "%"), 64)
	if err != nil {
		return 0, fmt.Errorf("share %q: %w", v, err)
	}
	if pct {
		x /= 100
	}
	return x, nil
}

func (f FaultSpec) validate() error {
	sum := 0.0
	for _, x := range []float64{f.Err5xx, f.DropBefore, f.DropAfter, f.Fail422} {
		if x < 0 || x > 1 || math.IsNaN(x) {
			return fmt.Errorf("sandbox: faults: share %v: must be between 0 and 1", x)
		}
		sum += x
	}
	if sum > 1+1e-9 {
		return fmt.Errorf("sandbox: faults: shares add up to %v: must be at most 1", sum)
	}
	if f.Latency < 0 || f.LatencyMax < 0 {
		return fmt.Errorf("sandbox: faults: latency must not be negative")
	}
	if f.LatencyMax != 0 && f.LatencyMax < f.Latency {
		return fmt.Errorf("sandbox: faults: latency range %v-%v: the upper bound is below the lower", f.Latency, f.LatencyMax)
	}
	return nil
}

// Active reports whether f injects anything.
func (f FaultSpec) Active() bool {
	return f.Err5xx > 0 || f.DropBefore > 0 || f.DropAfter > 0 || f.Fail422 > 0 || f.Latency > 0 || f.LatencyMax > 0
}

// String is f in ParseFaults' syntax.
func (f FaultSpec) String() string {
	if !f.Active() {
		return "none"
	}
	var parts []string
	add := func(k string, x float64) {
		if x > 0 {
			parts = append(parts, k+"="+strconv.FormatFloat(x, 'g', -1, 64))
		}
	}
	add("5xx", f.Err5xx)
	add("drop-before", f.DropBefore)
	add("drop-after", f.DropAfter)
	add("422-after", f.Fail422)
	if f.LatencyMax > f.Latency {
		parts = append(parts, "latency="+f.Latency.String()+"-"+f.LatencyMax.String())
	} else if f.Latency > 0 {
		parts = append(parts, "latency="+f.Latency.String())
	}
	parts = append(parts, "seed="+strconv.FormatInt(f.Seed, 10))
	return strings.Join(parts, ",")
}

type faultKind int

const (
	faultNone faultKind = iota
	fault5xx
	faultDropBefore
	faultDropAfter
	fault422After
	faultLatency
	nFaultKinds
)

func (k faultKind) String() string {
	return [...]string{"none", "5xx", "drop-before", "drop-after", "422-after", "latency"}[k]
}

type faultDecision struct {
	kind    faultKind
	status  int
	latency time.Duration
}

type faulter struct {
	spec FaultSpec
	on   bool
	seq  atomic.Uint64
}

func newFaulter(f FaultSpec) *faulter { return &faulter{spec: f, on: f.Active()} }

func (f *faulter) active() bool { return f.on }

// decide draws the fate of the next API request. The n-th request's fate
// depends only on the seed and n, so a sequential test replays exactly.
func (f *faulter) decide() faultDecision {
	n := f.seq.Add(1)
	r := rand.New(rand.NewPCG(uint64(f.spec.Seed), n))
	var d faultDecision
	x := r.Float64()
	sp := f.spec
	switch {
	case x < sp.Err5xx:
		d.kind = fault5xx
		d.status = [...]int{500, 502, 503}[r.IntN(3)]
	case x < sp.Err5xx+sp.DropBefore:
		d.kind = faultDropBefore
	case x < sp.Err5xx+sp.DropBefore+sp.DropAfter:
		d.kind = faultDropAfter
	case x < sp.Err5xx+sp.DropBefore+sp.DropAfter+sp.Fail422:
		d.kind = fault422After
	}
	d.latency = sp.Latency
	if sp.LatencyMax > sp.Latency {
		d.latency += time.Duration(r.Int64N(int64(sp.LatencyMax-sp.Latency) + 1))
	}
	return d
}
