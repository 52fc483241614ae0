package sandbox

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
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

	// Locations make single locations of an agency fail while the others
	// serve normally (agency.go), sorted by ID, one entry a location.
	Locations []LocationFault
}

// LocationFault is what one location suffers (--faults
// location=ID:5xx=SHARE, location=ID:daily=spent).
type LocationFault struct {
	ID string
	// Err5xx is the share of the location's API requests answered 500,
	// 502 or 503 (1: a storm, every request), drawn after the bearer is
	// known and before the rate limit, so they use no quota.
	Err5xx float64
	// DailySpent spends the location's daily quota at start: its
	// requests are answered 429 with X-RateLimit-Daily-Remaining: 0 until
	// the daily window rolls over (or SpendDailyQuota gives it back).
	DailySpent bool
}

// ParseFaults reads the --faults syntax: comma-separated key=value pairs,
//
//	5xx=0.05          share answered 500/502/503 (also "5%")
//	drop-before=0.02  share whose connection is dropped before it is applied
//	drop-after=0.02   share applied and then dropped without an answer
//	422-after=0.01    share applied and then answered 422
//	latency=20ms      added to every request; "5ms-50ms" for a uniform range
//	seed=7            seed of the draws (default 1)
//	location=ID:5xx=1 share of location ID's requests answered 500/502/503
//	location=ID:daily=spent  location ID's daily quota spent from the start
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
			return FaultSpec{}, fmt.Errorf("sandbox: faults %q: %q is not key=value (keys: %s)", s, part, faultKeys)
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
		case "location":
			err = f.parseLocation(v)
		default:
			return FaultSpec{}, fmt.Errorf("sandbox: faults %q: unknown key %q (keys: %s)", s, k, faultKeys)
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

const faultKeys = "5xx, drop-before, drop-after, 422-after, latency, seed, location"

// parseLocation reads one location fault, "ID:5xx=SHARE" or
// "ID:daily=spent", into f.Locations (merged with the ID's others).
func (f *FaultSpec) parseLocation(v string) error {
	id, what, ok := strings.Cut(v, ":")
	k, x, ok2 := strings.Cut(what, "=")
	if !ok || !ok2 || id == "" {
		return fmt.Errorf("%q: must be ID:5xx=SHARE or ID:daily=spent", v)
	}
	lf := f.location(id)
	switch k {
	case "5xx":
		share, err := parseShare(x)
		if err != nil {
			return err
		}
		lf.Err5xx = share
	case "daily":
		if x != "spent" {
			return fmt.Errorf("%q: daily takes only \"spent\"", v)
		}
		lf.DailySpent = true
	default:
		return fmt.Errorf("%q: unknown location fault %q (5xx, daily)", v, k)
	}
	return nil
}

// location is f's entry for id, added in ID order if new.
func (f *FaultSpec) location(id string) *LocationFault {
	i, found := slices.BinarySearchFunc(f.Locations, id, func(l LocationFault, id string) int { return cmp.Compare(l.ID, id) })
	if !found {
		f.Locations = slices.Insert(f.Locations, i, LocationFault{ID: id})
	}
	return &f.Locations[i]
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
	for _, l := range f.Locations {
		if x := l.Err5xx; x < 0 || x > 1 || math.IsNaN(x) {
			return fmt.Errorf("sandbox: faults: location %s: share %v: must be between 0 and 1", l.ID, x)
		}
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
	return f.global() || len(f.Locations) > 0
}

// global reports whether f injects anything into every location's requests.
func (f FaultSpec) global() bool {
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
	for _, l := range f.Locations {
		if l.Err5xx > 0 {
			parts = append(parts, "location="+l.ID+":5xx="+strconv.FormatFloat(l.Err5xx, 'g', -1, 64))
		}
		if l.DailySpent {
			parts = append(parts, "location="+l.ID+":daily=spent")
		}
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

func newFaulter(f FaultSpec) *faulter { return &faulter{spec: f, on: f.global()} }

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
