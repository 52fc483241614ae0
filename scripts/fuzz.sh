#!/usr/bin/env bash
# Runs every Go fuzz target of the module, one at a time, each for
# $FUZZTIME. `make fuzz` runs it; `make chaos` runs it after the chaos
# tests. (`make test` runs each target's seed corpus only, as plain tests.)
#
#   ./scripts/fuzz.sh                          # every target, 60s each
#   FUZZTIME=10m ./scripts/fuzz.sh             # longer
#   FUZZ_ONLY='Expr|Phone' ./scripts/fuzz.sh   # the targets whose name matches
#
# Environment:
#   FUZZTIME        -fuzztime of each target: a duration (60s, 5m, 1h) or a count (10000x); default 60s
#   FUZZ_PARALLEL   -parallel, the fuzzing processes of a target (default: go's, one per CPU)
#   FUZZ_ONLY       an extended regexp on the target names (default: all)
#
# A target that finds a failing input fails the script. Go writes the input
# to <package>/testdata/fuzz/<Target>/<hash>; fix the bug and commit that
# file: from then on it is a seed, a regression test run by `go test`.
set -uo pipefail

cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-60s}
GO=${GO:-go}

# The test binary's deadline: the fuzzing time plus room for building and
# the seed corpus. A count (Nx) has no duration; give it an hour.
timeout=1h
if [[ $FUZZTIME =~ ^([0-9]+)(s|m|h)$ ]]; then
	n=${BASH_REMATCH[1]}
	case ${BASH_REMATCH[2]} in
	s) timeout=$((n + 600))s ;;
	m) timeout=$((n + 10))m ;;
	h) timeout=$((n * 60 + 10))m ;;
	esac
fi

# Packages with a fuzz target, then their targets as `go test -list` names them.
mapfile -t pkgs < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Z0-9_]' . | xargs -r -n1 dirname | sort -u)
if [ ${#pkgs[@]} -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
targets=()
for pkg in "${pkgs[@]}"; do
	if ! names=$("$GO" test -list '^Fuzz' "$pkg"); then
		echo "fuzz: go test -list failed in $pkg" >&2
		exit 1
	fi
	for name in $names; do
		case $name in
		Fuzz*) targets+=("$pkg $name") ;;
		esac
	done
done

parallel=()
[ -n "${FUZZ_PARALLEL:-}" ] && parallel=(-parallel "$FUZZ_PARALLEL")
failed=()
flaked=()
ran=0
log=$(mktemp)
trap 'rm -f "$log"' EXIT
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	if [ -n "${FUZZ_ONLY:-}" ] && ! [[ $name =~ $FUZZ_ONLY ]]; then
		continue
	fi
	ran=$((ran + 1))
	echo "== $pkg $name ($FUZZTIME)"
	corpus=$pkg/testdata/fuzz/$name
	before=$(ls "$corpus" 2>/dev/null)
	"$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" -timeout "$timeout" "${parallel[@]}" "$pkg" 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	[ "$rc" -eq 0 ] && continue
	# Go before 1.27 can fail a target that found nothing, with "context
	# deadline exceeded", as -fuzztime ends (golang/go#75804). A real
	# failure writes its input to the corpus.
	if [ "$(ls "$corpus" 2>/dev/null)" = "$before" ] && grep -q '^    context deadline exceeded$' "$log" && ! grep -q '^    --- FAIL' "$log"; then
		echo "fuzz: $name: go's fuzzing stopped with \"context deadline exceeded\" and no failing input (golang/go#75804): not counted"
		flaked+=("$pkg $name")
		continue
	fi
	failed+=("$pkg $name")
done

if [ "$ran" -eq 0 ]; then
	echo "fuzz: no target matches FUZZ_ONLY=$FUZZ_ONLY" >&2
	exit 1
fi
if [ ${#failed[@]} -gt 0 ]; then
	echo
	echo "fuzz: ${#failed[@]} of $ran targets failed:"
	printf '  %s\n' "${failed[@]}"
	echo "The failing inputs are in <package>/testdata/fuzz/<Target>/ (new files below). Fix the bug, then"
	echo "commit each input: go test runs it as a seed from then on."
	git status --porcelain --untracked-files=all -- '*/testdata/fuzz/*' 2>/dev/null | sed 's/^/  /'
	exit 1
fi
echo "fuzz: $ran targets, $FUZZTIME each, no failures${flaked:+ (${#flaked[@]} stopped by golang/go#75804, see above)}"
