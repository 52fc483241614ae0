package agency

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
)

// A fleet (export --shard I/N, or a Kubernetes Indexed Job's
// JOB_COMPLETION_INDEX and JOB_COMPLETIONS) splits the locations among N
// runs by a stable hash of each location's id: FNV-1a (32 bits) of the id's
// bytes, mod N. The hash depends on the id alone, never on the order or the
// number of the locations listed, so a rescheduled pod takes the very
// locations its predecessor had, and the N shards are disjoint and cover
// every location.

// Environment variables of a Kubernetes Indexed Job: the pod's index
// (set by Kubernetes) and the number of completions (set in the manifest,
// see deploy/kubernetes/).
const (
	EnvCompletionIndex = "JOB_COMPLETION_INDEX"
	EnvCompletions     = "JOB_COMPLETIONS"
)

// MaxShards bounds N: more shards than that are surely a typo.
const MaxShards = 10000

// Shard is one of Count runs; the zero Shard is the whole set.
type Shard struct{ Index, Count int }

// On tells whether the run is a shard.
func (s Shard) On() bool { return s.Count > 0 }

func (s Shard) String() string { return fmt.Sprintf("%d/%d", s.Index, s.Count) }

func (s Shard) manifestName() string {
	return fmt.Sprintf("manifest.shard-%d-of-%d.json", s.Index, s.Count)
}

var shardManifestRE = regexp.MustCompile(`^manifest\.shard-[0-9]+-of-[0-9]+\.json$`)

func isShardManifest(name string) bool { return shardManifestRE.MatchString(name) }

// ShardOf is the shard, of n, that location id falls in.
func ShardOf(id string, n int) int {
	h := fnv.New32a()
	h.Write([]byte(id))
	return int(h.Sum32() % uint32(n))
}

// Has tells whether location id is in the shard (every one, unsharded).
func (s Shard) Has(id string) bool { return !s.On() || ShardOf(id, s.Count) == s.Index }

func (s Shard) filter(ts []Target) []Target {
	var out []Target
	for _, t := range ts {
		if s.Has(t.ID) {
			out = append(out, t)
		}
	}
	return out
}

// ParseShard reads --shard I/N: 0 <= I < N, I counted from 0 as
// JOB_COMPLETION_INDEX is.
func ParseShard(v string) (Shard, error) {
	is, ns, ok := strings.Cut(v, "/")
	if !ok {
		return Shard{}, fmt.Errorf("--shard %q: must be I/N, e.g. 0/3 (shard I of N, counted from 0)", v)
	}
	n, err := parseCount(ns)
	if err != nil {
		return Shard{}, fmt.Errorf("--shard %q: N %w", v, err)
	}
	i, err := parseIndex(is, n)
	if err != nil {
		return Shard{}, fmt.Errorf("--shard %q: I %w", v, err)
	}
	return Shard{i, n}, nil
}

// ShardFromEnv reads JOB_COMPLETION_INDEX and JOB_COMPLETIONS: both set
// make a shard, neither none; one without the other, or a bad value, is
// an error naming the variable.
func ShardFromEnv(getenv func(string) string) (Shard, error) {
	is, ns := strings.TrimSpace(getenv(EnvCompletionIndex)), strings.TrimSpace(getenv(EnvCompletions))
	switch {
	case is == "" && ns == "":
		return Shard{}, nil
	case ns == "":
		return Shard{}, fmt.Errorf("%s is set (%s) but %s is not: set %s to the Job's completions (deploy/kubernetes/ does), or pass --shard I/N", EnvCompletionIndex, is, EnvCompletions, EnvCompletions)
	case is == "":
		return Shard{}, fmt.Errorf("%s is set (%s) but %s is not: run as an Indexed Job (completionMode: Indexed), or pass --shard I/N", EnvCompletions, ns, EnvCompletionIndex)
	}
	n, err := parseCount(ns)
	if err != nil {
		return Shard{}, fmt.Errorf("%s=%q: %w", EnvCompletions, ns, err)
	}
	i, err := parseIndex(is, n)
	if err != nil {
		return Shard{}, fmt.Errorf("%s=%q: %w", EnvCompletionIndex, is, err)
	}
	return Shard{i, n}, nil
}

func parseCount(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > MaxShards {
		return 0, fmt.Errorf("must be a whole number from 1 to %d", MaxShards)
	}
	return n, nil
}

func parseIndex(s string, n int) (int, error) {
	i, err := strconv.Atoi(s)
	if err != nil || i < 0 || i >= n {
		return 0, fmt.Errorf("must be a whole number from 0 to %d (counted from 0)", n-1)
	}
	return i, nil
}
