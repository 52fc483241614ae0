#!/usr/bin/env bash
# End-to-end benchmark of ghlbulk against the embedded sandbox, on loopback
# only. `make bench` runs it after the Go benchmarks; docs/benchmarks.md
# records its figures and how to read them.
#
#   ./scripts/bench.sh                     # sections 1-5 at 100k contacts
#   BENCH_LARGE=1 ./scripts/bench.sh       # also 1M-row import and 1M-contact export (slow)
#   BENCH_ONLY="import paced" ./scripts/bench.sh   # a subset: serve import paced export snapshot parquet hostile listen validate exportscale agency
#   BENCH_ONLY=exportscale BENCH_SCALE_ROWS="10000 100000" ./scripts/bench.sh   # export's requests against its floor
#
# Environment:
#   BENCH_ROWS            rows/contacts of the default size (100000)
#   BENCH_LARGE=1         also run at BENCH_LARGE_ROWS (1000000)
#   BENCH_PACED_SECONDS   length of the paced import (60)
#   BENCH_WORKERS         --workers of import and export (default: the CLI's)
#   BENCH_DIR             work directory (out/bench); inputs are kept and reused
#   BENCH_VALIDATE_ROWS   rows of the validate-vs-DuckDB file (1000000)
#   BENCH_SCALE_ROWS      contacts of the exportscale section ("10000 100000")
#   BENCH_AGENCY_LOCATIONS, BENCH_AGENCY_CONTACTS, BENCH_AGENCY_PARALLEL
#                         the agency section: locations (50), contacts each (2000),
#                         --parallel-locations (50)
#
# Peak RSS comes from /usr/bin/time -f %M when it exists, otherwise from
# VmHWM in /proc/PID/status, polled.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${BIN:-$ROOT/bin/ghlbulk}
BENCH_ROWS=${BENCH_ROWS:-100000}
BENCH_LARGE=${BENCH_LARGE:-0}
BENCH_LARGE_ROWS=${BENCH_LARGE_ROWS:-1000000}
BENCH_PACED_SECONDS=${BENCH_PACED_SECONDS:-60}
BENCH_ONLY=${BENCH_ONLY:-serve import paced export snapshot parquet hostile listen validate exportscale agency}
BENCH_DIR=${BENCH_DIR:-$ROOT/out/bench}
WORKER_FLAG=()
if [[ -n "${BENCH_WORKERS:-}" ]]; then WORKER_FLAG=(--workers "$BENCH_WORKERS"); fi

mkdir -p "$BENCH_DIR"
RUN=$(mktemp -d "$BENCH_DIR/run.XXXXXX")

# ---- background processes: every one we start is recorded and stopped ----
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do
		if kill -0 "$p" 2>/dev/null; then
			kill -TERM "$p" 2>/dev/null || true
		fi
	done
	for p in "${PIDS[@]}"; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

if [[ ! -x "$BIN" ]]; then
	echo "building $BIN" >&2
	mkdir -p "$(dirname "$BIN")"
	go build -trimpath -o "$BIN" ./cmd/ghlbulk
fi

HAVE_TIME=0
if [[ -x /usr/bin/time ]] && /usr/bin/time -f %M true >/dev/null 2>&1; then HAVE_TIME=1; fi

# jnum FILE KEY: a number from a report (top level, or a.b for one level down).
jnum() {
	if command -v jq >/dev/null 2>&1; then
		jq -r ".$2 // 0" "$1"
	else
		python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): d=d.get(k,0) if isinstance(d,dict) else 0
print(d)' "$1" "$2"
	fi
}
# calc EXPR: floating-point arithmetic.
calc() { awk "BEGIN { printf \"%s\", $1 }" </dev/null; }
fmt() { awk -v x="$1" -v f="$2" 'BEGIN { printf f, x }' </dev/null; }
mib() { fmt "$(calc "$1/1024")" "%.0f MiB"; }

# ---- result table ----
ROWS=()
row() { ROWS+=("$(printf '%-48s %-22s %s' "$1" "$2" "${3:-}")"); printf '  %-48s %-22s %s\n' "$1" "$2" "${3:-}"; }
section() { printf '\n== %s\n' "$1"; ROWS+=("" "== $1"); }

# start_sandbox NAME ARGS...: starts the sandbox in the background and
# exports its GHL_* variables once it prints them (seeding comes first).
SB_PID=
start_sandbox() {
	local name=$1
	shift
	local out=$RUN/$name.sandbox.out
	"$BIN" sandbox --addr 127.0.0.1:0 "$@" >"$out" 2>"$RUN/$name.sandbox.err" &
	SB_PID=$!
	PIDS+=("$SB_PID")
	local i
	for ((i = 0; i < 3000; i++)); do # up to 300 s (seeding 1M contacts)
		if [[ -s $out ]] && head -1 "$out" | grep -q '^GHL_API_URL='; then
			local line
			line=$(head -1 "$out")
			export ${line?}
			return 0
		fi
		if ! kill -0 "$SB_PID" 2>/dev/null; then
			echo "sandbox exited:" >&2
			cat "$RUN/$name.sandbox.err" >&2
			return 1
		fi
		sleep 0.1
	done
	echo "sandbox did not start in 300 s" >&2
	return 1
}
# sb_cpu: the sandbox's CPU time so far (user+sys, s).
sb_cpu() {
	awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$SB_PID/stat" 2>/dev/null || echo 0
}
stop_sandbox() {
	if [[ -n $SB_PID ]] && kill -0 "$SB_PID" 2>/dev/null; then
		kill -TERM "$SB_PID"
		wait "$SB_PID" 2>/dev/null || true
	fi
	SB_PID=
}

# measure OUT CMD...: runs CMD in the foreground and writes its peak RSS
# (KiB) to OUT and its CPU time (user+system, s) to OUT.cpu; returns CMD's
# exit status. CPU time is the figure to trust on a loaded machine.
measure() {
	local rssf=$1
	shift
	if ((HAVE_TIME)); then
		local rc=0
		/usr/bin/time -f '%M %U %S' -o "$rssf" "$@" || rc=$?
		# GNU time prefixes "Command exited with non-zero status N" lines.
		tail -1 "$rssf" | awk '{ print $2 + $3 > "'"$rssf"'.cpu"; print $1 }' >"$rssf.tmp" && mv "$rssf.tmp" "$rssf"
		return $rc
	fi
	"$@" &
	local pid=$! hwm=0 v i cpu=0 tck
	tck=$(getconf CLK_TCK)
	PIDS+=("$pid")
	for ((i = 0; i < 360000; i++)); do # polled every 10 ms, 1 h at most
		v=$(awk '/^VmHWM:/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
		[[ -n $v ]] && ((v > hwm)) && hwm=$v
		v=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null || true)
		[[ -n $v ]] && cpu=$v
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	local rc=0
	wait "$pid" || rc=$?
	echo "$hwm" >"$rssf"
	calc "$cpu/$tck" >"$rssf.cpu"
	return $rc
}

csv_for() { # csv_for N [fixed]: a generated input of N rows, made once
	local f=$BENCH_DIR/contacts-$1.csv flag=()
	if [[ ${2:-} == fixed ]]; then
		f=$BENCH_DIR/contacts-$1-fixedtags.csv
		flag=(-fixed-tags)
	fi
	if [[ ! -s $f ]]; then
		go run ./scripts/benchgen -n "$1" ${flag[@]+"${flag[@]}"} -o "$f" >&2
	fi
	echo "$f"
}

has() { [[ " $BENCH_ONLY " == *" $1 "* ]]; }

echo "ghlbulk bench: $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.1f GiB", $2/1048576 }' /proc/meminfo), $(go version | cut -d' ' -f3), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "binary $BIN: $("$BIN" version 2>/dev/null | head -1), built $(date -u -r "$BIN" +%FT%TZ) (make build, or delete it, to rebuild)"
echo "work dir $RUN"

# ---- 1. sandbox throughput ----
if has serve; then
	section "1. sandbox throughput, loopback, limits off (go test -bench Serve ./ghl/sandbox)"
	go test -run '^$' -bench Serve -benchtime 2x ./ghl/sandbox >"$RUN/serve.txt" 2>&1 || { cat "$RUN/serve.txt"; exit 1; }
	while read -r name rps; do
		row "$name" "$(fmt "$rps" '%.0f') req/s"
	done < <(awk '/^BenchmarkServe/ { for (i = 1; i <= NF; i++) if ($(i+1) == "req/s") print $1, $i }' "$RUN/serve.txt")
fi

# ---- 2. import, limits off ----
bench_import() { # bench_import N [fixed]: fixed gives every row the same four tags
	local n=$1 csv
	csv=$(csv_for "$n" "${2:-}")
	[[ ${2:-} == fixed ]] && n="$n-fixedtags"
	start_sandbox "import-$n" --rate off --daily 0
	local rep=$RUN/import-$n.json rc=0
	measure "$RUN/import-$n.rss" "$BIN" import "$csv" --mapping scripts/bench-mapping.yaml ${WORKER_FLAG[@]+"${WORKER_FLAG[@]}"} \
		--state "$RUN/import-$n.state" --rejects "$RUN/import-$n.rejects.csv" --report "$rep" --no-progress -q || rc=$?
	local sbcpu
	sbcpu=$(sb_cpu)
	stop_sandbox
	local rows el req wr rss
	rows=$(jnum "$rep" rows_read)
	el=$(jnum "$rep" elapsed_s)
	req=$(jnum "$rep" requests)
	wr=$(calc "$(jnum "$rep" created)+$(jnum "$rep" updated)")
	rss=$(cat "$RUN/import-$n.rss")
	row "import $n rows: exit / outcome" "$rc / $(jq -r .outcome "$rep" 2>/dev/null || echo ?)" "rejected $(jnum "$rep" rejected)"
	row "import $n rows: rows/s" "$(fmt "$(calc "$rows/$el")" '%.0f')" "($rows rows in $(fmt "$el" '%.1f') s)"
	row "import $n rows: requests per contact" "$(fmt "$(calc "$req/($wr>0?$wr:1)")" '%.3f')" "target <= 1.05; $req requests, $wr written, by kind: $(jq -c .requests_by_kind "$rep" 2>/dev/null)"
	row "import $n rows: peak RSS" "$(mib "$rss")"
	row "import $n rows: importer CPU per row" "$(fmt "$(calc "1e6*$(cat "$RUN/import-$n.rss.cpu")/($rows>0?$rows:1)")" '%.0f') us" "$(cat "$RUN/import-$n.rss.cpu") CPU-s (user+sys); sandbox $(fmt "$(calc "1e6*$sbcpu/($rows>0?$rows:1)")" '%.0f') us/row"
}
if has import; then
	section "2. import, sandbox --rate off --daily 0"
	bench_import "$BENCH_ROWS"
	bench_import "$BENCH_ROWS" fixed # one tag set on every row: the floor of the tag requests
	if [[ $BENCH_LARGE == 1 ]]; then bench_import "$BENCH_LARGE_ROWS"; fi
fi

# ---- 3. paced import at the sandbox's default 100/10s ----
if has paced; then
	section "3. import paced by the sandbox's default limit (100/10s = 10 req/s), ${BENCH_PACED_SECONDS}s"
	csv=$(csv_for "$BENCH_ROWS")
	start_sandbox paced --daily 0
	rep=$RUN/paced.json
	"$BIN" import "$csv" --mapping scripts/bench-mapping.yaml ${WORKER_FLAG[@]+"${WORKER_FLAG[@]}"} \
		--state "$RUN/paced.state" --rejects "$RUN/paced.rejects.csv" --report "$rep" --no-progress 2>"$RUN/paced.log" &
	imp=$!
	PIDS+=("$imp")
	for ((i = 0; i < BENCH_PACED_SECONDS * 10; i++)); do
		kill -0 "$imp" 2>/dev/null || break
		sleep 0.1
	done
	tsig=$(date +%s.%N)
	kill -INT "$imp" 2>/dev/null || true
	rc=0
	wait "$imp" || rc=$?
	tend=$(date +%s.%N)
	stop_sandbox
	req=$(jnum "$rep" requests)
	el=$(jnum "$rep" elapsed_s)
	thr=$(jnum "$rep" throttled)
	rate=$(calc "$req/$el")
	row "paced: exit after SIGINT" "$rc" "(3: stopped early, resumable); exited $(fmt "$(calc "$tend-$tsig")" '%.1f') s after the signal"
	row "paced: achieved requests/s" "$(fmt "$rate" '%.2f')" "$req requests in $(fmt "$el" '%.1f') s"
	row "paced: share of allowed 10 req/s" "$(fmt "$(calc "100*$rate/10")" '%.1f')%" "target >= 97%"
	row "paced: 429 answers (report: throttled)" "$thr" "target: none after the first window; retries $(jnum "$rep" retries)"
fi

# ---- 4. export, limits off ----
bench_export() { # bench_export N
	local n=$1 t0 t1
	t0=$(date +%s.%N)
	start_sandbox "export-$n" --rate off --daily 0 --contacts "$n"
	t1=$(date +%s.%N)
	local sbrss
	sbrss=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SB_PID/status" 2>/dev/null || echo 0)
	row "sandbox seeding $n contacts" "$(fmt "$(calc "$t1-$t0")" '%.1f') s" "sandbox peak RSS after seeding $(mib "$sbrss")"
	local kind rep out rc inc min size rows el req
	for kind in contacts full; do
		rep=$RUN/export-$n-$kind.json
		out=$RUN/export-$n-$kind
		inc=()
		[[ $kind == full ]] && inc=(--include tasks,notes,appointments)
		rc=0
		local c0 c1
		c0=$(sb_cpu)
		measure "$RUN/export-$n-$kind.rss" "$BIN" export --out "$out" ${inc[@]+"${inc[@]}"} ${WORKER_FLAG[@]+"${WORKER_FLAG[@]}"} \
			--report "$rep" --no-progress -q || rc=$?
		c1=$(sb_cpu)
		rows=$(jnum "$rep" rows_written.contacts)
		el=$(jnum "$rep" elapsed_s)
		req=$(jnum "$rep" requests)
		size=$(find "$out" -maxdepth 1 -type f \( -name '*.parquet' -o -name '*.csv' \) -printf '%s\n' | awk '{ s += $1 } END { print s+0 }')
		if [[ $kind == full ]]; then min=$(calc "int(($n+499)/500)+3*$n"); else min=$(calc "int(($n+499)/500)"); fi
		row "export $n ($kind): exit / contacts" "$rc / $rows" "$(jq -c .rows_written "$rep" 2>/dev/null)"
		row "export $n ($kind): contacts/s" "$(fmt "$(calc "$rows/$el")" '%.0f')" "($(fmt "$el" '%.1f') s)"
		row "export $n ($kind): requests per contact" "$(fmt "$(calc "$req/($rows>0?$rows:1)")" '%.4f')" "$req requests, minimum $min (ceil(N/500)$([[ $kind == full ]] && echo ' + 3N'))"
		row "export $n ($kind): peak RSS" "$(mib "$(cat "$RUN/export-$n-$kind.rss")")"
		row "export $n ($kind): exporter CPU per contact" "$(fmt "$(calc "1e6*$(cat "$RUN/export-$n-$kind.rss.cpu")/($rows>0?$rows:1)")" '%.0f') us" "$(cat "$RUN/export-$n-$kind.rss.cpu") CPU-s (user+sys); sandbox $(fmt "$(calc "1e6*($c1-$c0)/($rows>0?$rows:1)")" '%.0f') us/contact"
		row "export $n ($kind): output bytes per contact" "$(fmt "$(calc "$size/($rows>0?$rows:1)")" '%.0f')" "$size bytes of Parquet"
		rm -rf "$out"
	done
	stop_sandbox
}
if has export; then
	section "4. export, sandbox --rate off --daily 0, Parquet"
	bench_export "$BENCH_ROWS"
	if [[ $BENCH_LARGE == 1 ]]; then bench_export "$BENCH_LARGE_ROWS"; fi
fi

# ---- 4b. export --snapshot: the incremental run's merge, limits off ----
# The first --snapshot run is a full export; the second lists every contact
# (ceil(N/500) requests), finds none changed, and rewrites the snapshot by
# streaming the previous one through the merge: its peak RSS is the merge's.
bench_snapshot() { # bench_snapshot N
	local n=$1 out kind rep rc rows el
	out=$RUN/snapshot-$n
	start_sandbox "snapshot-$n" --rate off --daily 0 --contacts "$n"
	for kind in first incremental; do
		rep=$RUN/snapshot-$n-$kind.json
		rc=0
		measure "$RUN/snapshot-$n-$kind.rss" "$BIN" export --out "$out" --snapshot --state "$RUN/snapshot-$n.state" \
			--include tasks ${WORKER_FLAG[@]+"${WORKER_FLAG[@]}"} --report "$rep" --no-progress -q || rc=$?
		rows=$(jnum "$rep" rows_written.contacts)
		el=$(jnum "$rep" elapsed_s)
		row "snapshot $n ($kind): exit / snapshot contacts" "$rc / $rows" "$(fmt "$el" '%.1f') s, $(jnum "$rep" requests) requests"
		row "snapshot $n ($kind): peak RSS" "$(mib "$(cat "$RUN/snapshot-$n-$kind.rss")")" "$(cat "$RUN/snapshot-$n-$kind.rss.cpu") CPU-s"
	done
	rm -rf "$out" "$RUN/snapshot-$n.state"*
	stop_sandbox
}
if has snapshot; then
	section "4b. export --snapshot --include tasks, sandbox --rate off --daily 0, Parquet"
	bench_snapshot "$BENCH_ROWS"
	if [[ -n ${BENCH_SNAPSHOT_ROWS:-} ]]; then bench_snapshot "$BENCH_SNAPSHOT_ROWS"; fi
	if [[ $BENCH_LARGE == 1 ]]; then bench_snapshot "$BENCH_LARGE_ROWS"; fi
fi

# ---- 5. Parquet writers ----
if has parquet; then
	section "5. Parquet writers, 20k contacts (go test -bench Parquet ./sinks/)"
	go test -run '^$' -bench Parquet -benchmem ./sinks/ >"$RUN/parquet.txt" 2>&1 || { cat "$RUN/parquet.txt"; exit 1; }
	while read -r name mbs bpr allocs; do
		row "$name" "$mbs MB/s" "file $bpr B/row, $allocs allocs/op"
	done < <(awk '/^BenchmarkParquet/ { m = ""; b = ""; a = ""
		for (i = 2; i <= NF; i++) { if ($(i+1) == "MB/s") m = $i; if ($(i+1) == "file_B/row") b = $i; if ($(i+1) == "allocs/op") a = $i }
		print $1, m, b, a }' "$RUN/parquet.txt")
fi

# ---- 6. hostile inputs: refused early, in little memory ----
# The gzip bomb is issue 11's: one 2 GiB field in a few MB of .csv.gz. The
# wide file is 100,000 columns and 5 rows in 1.2 MB. Both are made once and
# kept in BENCH_DIR.
hostile() { # hostile ID LABEL FILE ARGS...: validate under measure, one row of figures
	local name=$1 label=$2 file=$3 rc=0
	shift 3
	measure "$RUN/hostile-$name.rss" "$BIN" validate "$file" --mapping "$RUN/hostile.yaml" --rejects "$RUN/hostile-$name.rejects.csv" \
		--plan-out "$RUN/hostile-$name.plan.csv" --no-progress -q "$@" 2>"$RUN/hostile-$name.err" || rc=$?
	row "$label: exit / peak RSS" "$rc / $(mib "$(cat "$RUN/hostile-$name.rss")")" "$(cat "$RUN/hostile-$name.rss.cpu") CPU-s; $(head -c 110 "$RUN/hostile-$name.err" | tr '\n' ' ')"
}
if has hostile; then
	section "6. hostile inputs: validate, default limits (exit 2 = refused)"
	bomb=$BENCH_DIR/bomb-2g.csv.gz
	if [[ ! -s $bomb ]]; then
		{ printf 'email,name\nx@example.com,'; head -c 2147483648 /dev/zero | tr '\0' x; printf '\n'; } | gzip -9 >"$bomb"
	fi
	wide=$BENCH_DIR/wide-100k.csv
	if [[ ! -s $wide ]]; then
		awk 'BEGIN { h = "email,name"; for (i = 0; i < 100000; i++) h = h ",c" i; print h
			r = ""; for (i = 0; i < 100001; i++) r = r ","; for (n = 0; n < 5; n++) print "p" n "@example.com" r }' >"$wide"
	fi
	printf 'version: 1\nkey: [email]\nfields:\n  email: "email"\n  firstName: "name"\n' >"$RUN/hostile.yaml"
	row "gzip bomb: file" "$(mib "$(($(stat -c %s "$bomb") / 1024))")" "one field of 2 GiB"
	hostile bomb "gzip bomb" "$bomb"
	hostile wide "100k columns" "$wide"
	hostile wide-raised "100k columns, --max-columns 200000" "$wide" --max-columns 200000
fi

# ---- 7. webhook listener ----
if has listen; then
	section "7. webhook listener, events durable before 200 (go test -bench BenchmarkListen ./jobs/listen/)"
	go test -run '^$' -bench BenchmarkListen -benchtime 3000x ./jobs/listen/ >"$RUN/listen.txt" 2>&1 || { cat "$RUN/listen.txt"; exit 1; }
	while read -r name eps p99; do
		row "$name" "$eps events/s" "p99 $p99 ms"
	done < <(awk '/^BenchmarkListen/ { e = ""; p = ""
		for (i = 2; i <= NF; i++) { if ($(i+1) == "events/s") e = $i; if ($(i+1) == "p99-ms") p = $i }
		print $1, e, p }' "$RUN/listen.txt")
fi

# ---- 8. validate against DuckDB's CSV -> Parquet on the same file ----
if has validate; then
	vn=${BENCH_VALIDATE_ROWS:-1000000}
	section "8. validate $vn rows vs DuckDB CSV->Parquet, same file, same run (target: <= 3x, peak RSS < 256 MiB)"
	csv=$(csv_for "$vn")
	t0=$(date +%s.%N)
	vrc=0
	measure "$RUN/validate.rss" "$BIN" validate "$csv" --mapping scripts/bench-mapping.yaml --plan-out "$RUN/validate.plan.csv" \
		--rejects "$RUN/validate.rejects.csv" --no-progress -q || vrc=$?
	t1=$(date +%s.%N)
	vt=$(calc "$t1-$t0")
	row "validate $vn rows: exit / wall / peak RSS" "$vrc / $(fmt "$vt" '%.1f') s" "$(mib "$(cat "$RUN/validate.rss")"), $(cat "$RUN/validate.rss.cpu") CPU-s"
	if [[ ! -d scripts/node_modules/@duckdb/node-api ]]; then
		(cd scripts && npm install --no-audit --no-fund >/dev/null 2>&1) || true
	fi
	if [[ -d scripts/node_modules/@duckdb/node-api ]]; then
		t0=$(date +%s.%N)
		measure "$RUN/duckdb.rss" node scripts/duckdb-csv2parquet.mjs "$csv" "$RUN/duckdb.parquet"
		t1=$(date +%s.%N)
		dt=$(calc "$t1-$t0")
		row "DuckDB CSV->Parquet $vn rows: wall / peak RSS" "$(fmt "$dt" '%.1f') s" "$(mib "$(cat "$RUN/duckdb.rss")"), $(cat "$RUN/duckdb.rss.cpu") CPU-s"
		row "validate / DuckDB" "$(fmt "$(calc "$vt/$dt")" '%.2f')x" "target <= 3x"
		rm -f "$RUN/duckdb.parquet"
	else
		row "DuckDB" "skipped" "cd scripts && npm install (needs @duckdb/node-api)"
	fi
	rm -f "$RUN/validate.plan.csv"
fi

# ---- 9. export's requests against its floor, at scale ----
# The sandbox seeds 1 task, 1 note and 0.5 appointments a contact on average
# (--seed-related). The floor of a run is what its plan counts: contact pages
# + task pages + calendar windows (+ one notes request per contact read);
# the run's requests also hold the plan's own counting requests, the
# calendars listing and the custom fields. The incremental runs follow 1 %
# of contacts updated and another 1 % given a note, once with --changes (the
# journal of a `ghlbulk listen` the sandbox's webhooks go to) and once without.
plan_floor() { # plan_floor STDOUT: contact pages + task pages + calendar windows + notes requests of the printed plan
	awk '/^  contact pages/ { s += $3 } /^  task pages/ { s += $3 } /^  calendar windows/ { s += $3 }
		/^  notes  / { s += $2 } END { print s+0 }' "$1"
}
scale_run() { # scale_run LABEL ARGS...: one export, one row: requests, floor, ratio, time
	local label=$1 rc=0 rep=$RUN/scale.json so=$RUN/scale.out
	shift
	"$BIN" export "$@" --report "$rep" --no-progress >"$so" 2>"$RUN/scale.err" || rc=$?
	local req floor el
	req=$(jnum "$rep" requests)
	floor=$(plan_floor "$so")
	if ((floor == 0)); then floor=$SCALE_FLOOR; else SCALE_FLOOR=$floor; fi # --no-plan: the same floor as the run before
	el=$(jnum "$rep" elapsed_s)
	row "$label" "$req / $floor" "$(fmt "$(calc "$req/($floor>0?$floor:1)")" '%.3f') x floor, exit $rc, $(fmt "$el" '%.1f') s, $(jq -c .rows_written "$rep" 2>/dev/null)"
	cp "$so" "$RUN/scale-$(echo "$label" | tr -c 'a-z0-9' '-').out"
}
SCALE_FLOOR=0
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
bench_exportscale() { # bench_exportscale N
	local n=$1 k=$(($1 / 100)) port out=$RUN/scale-$1 journal=$RUN/scale-$1.events.db t0 t1
	port=$(free_port)
	t0=$(date +%s.%N)
	start_sandbox "scale-$n" --rate off --daily 0 --contacts "$n" --seed-related tasks=1,notes=1,appointments=0.5 \
		--webhook-url "http://127.0.0.1:$port/webhooks/highlevel" --webhook-key-out "$RUN/scale-$n.pem"
	t1=$(date +%s.%N)
	row "sandbox seeding $n contacts (1/1/0.5 related)" "$(fmt "$(calc "$t1-$t0")" '%.1f') s"
	"$BIN" listen --addr "127.0.0.1:$port" --journal "$journal" --public-key "$RUN/scale-$n.pem" -q >"$RUN/scale-$n.listen.out" 2>&1 &
	local lpid=$!
	PIDS+=("$lpid")
	scale_run "export $n tasks,notes,appointments: requests / floor" --out "$out/full" --include tasks,notes,appointments
	scale_run "export $n tasks,appointments: requests / floor" --out "$out/ta" --include tasks,appointments
	scale_run "export $n tasks,appointments --no-plan" --out "$out/ta2" --include tasks,appointments --no-plan
	local inc=(--include tasks,notes,appointments --incremental)
	scale_run "incremental $n, --changes, first (a sweep)" --out "$out/a" --state "$out/a.state" "${inc[@]}" --changes "$journal"
	scale_run "incremental $n, no journal, first (full)" --out "$out/b" --state "$out/b.state" "${inc[@]}"
	go run ./scripts/benchchange -contacts "$k" -notes "$k" >"$RUN/scale-$n.change.out"
	local i got=0
	for ((i = 0; i < 1200; i++)); do # the webhooks are asynchronous: up to 120 s for 2k events
		got=$("$BIN" events --journal "$journal" 2>/dev/null | wc -l)
		((got >= 2 * k)) && break
		sleep 0.1
	done
	row "changes: $k contacts updated, $k notes added" "$got events journaled"
	scale_run "incremental $n after 1 %+1 %, --changes" --out "$out/a" --state "$out/a.state" "${inc[@]}" --changes "$journal"
	scale_run "incremental $n after 1 %+1 %, no journal" --out "$out/b" --state "$out/b.state" "${inc[@]}"
	kill -TERM "$lpid" 2>/dev/null || true
	wait "$lpid" 2>/dev/null || true
	rm -rf "$out" "$journal"*
	stop_sandbox
}
if has exportscale; then
	section "9. export requests vs floor (contact pages + task pages + calendar windows + notes), --rate off, 1 task, 1 note, 0.5 appointments a contact"
	for n in ${BENCH_SCALE_ROWS:-10000 100000}; do bench_exportscale "$n"; done
fi

# ---- 10. agency: every location at its own real limit, at once ----
# The sandbox serves N locations at HighLevel's per-location limit (100
# requests / 10 s each, 200k a day); export --locations all runs them all
# at once. A contact's notes are one request each, so a location needs
# about as many requests as it has contacts and the run spans many 10 s
# windows. The share is the run's requests per second over the sum of the
# limits; the 429s after a location's first window come from the sandbox
# (GET /_sandbox/counts: RateLimitedLate).
bench_agency() {
	local n=${BENCH_AGENCY_LOCATIONS:-50} c=${BENCH_AGENCY_CONTACTS:-2000} k=${BENCH_AGENCY_PARALLEL:-50}
	local out=$RUN/agency rep=$RUN/agency.json t0 t1 rc=0
	t0=$(date +%s.%N)
	start_sandbox agency --locations "$n" --contacts "$c"
	local i
	for ((i = 0; i < 100; i++)); do # the Company token is the third line
		grep -q '^GHL_COMPANY_TOKEN=' "$RUN/agency.sandbox.out" && break
		sleep 0.1
	done
	local company
	company=$(sed -n 's/^GHL_COMPANY_TOKEN=\([^ ]*\).*/\1/p' "$RUN/agency.sandbox.out")
	t1=$(date +%s.%N)
	row "sandbox seeding $n locations x $c contacts" "$(fmt "$(calc "$t1-$t0")" '%.1f') s"
	t0=$(date +%s.%N)
	GHL_TOKEN=$company GHL_TOKEN_FILE=$RUN/agency.token.json measure "$RUN/agency.rss" "$BIN" export --locations all \
		--parallel-locations "$k" --include tasks,notes --out "$out" ${WORKER_FLAG[@]+"${WORKER_FLAG[@]}"} \
		--report "$rep" --no-progress -q 2>"$RUN/agency.err" || rc=$?
	t1=$(date +%s.%N)
	curl -fsS "$GHL_API_URL/_sandbox/counts" >"$RUN/agency.counts.json" || echo '{}' >"$RUN/agency.counts.json"
	stop_sandbox
	local el req rate done429 late cpu rows
	el=$(calc "$t1-$t0")
	req=$(jnum "$rep" requests)
	rows=$(jnum "$rep" rows_written.contacts)
	rate=$(calc "$req/$el")
	done429=$(jnum "$RUN/agency.counts.json" RateLimited)
	late=$(jnum "$RUN/agency.counts.json" RateLimitedLate)
	cpu=$(cat "$RUN/agency.rss.cpu")
	row "agency $n x $c: exit / locations done" "$rc / $(jq '[.locations[] | select(.status == "done")] | length' "$out/manifest.json" 2>/dev/null || echo ?)" "contacts $rows, $(jq -c .rows_written "$rep" 2>/dev/null)"
	row "agency $n x $c: requests / wall time" "$req / $(fmt "$el" '%.1f') s" "$(fmt "$rate" '%.1f') req/s; the report's elapsed_s (the run's wall time): $(fmt "$(jnum "$rep" elapsed_s)" '%.1f') s"
	row "agency $n x $c: share of $((n * 10)) req/s" "$(fmt "$(calc "100*$rate/($n*10)")" '%.1f')%" "target >= 95%; per location $(fmt "$(calc "$rate/$n")" '%.2f') of 10 req/s"
	row "agency $n x $c: 429s / after the 1st window" "$done429 / $late" "target: 0 after the first window; report throttled $(jnum "$rep" throttled), retries $(jnum "$rep" retries)"
	row "agency $n x $c: exporter CPU / peak RSS" "$cpu CPU-s" "$(mib "$(cat "$RUN/agency.rss")"); $(fmt "$(calc "1e6*$cpu/($req>0?$req:1)")" '%.0f') us/request"
	rm -rf "$out"
}
if has agency; then
	section "10. agency: export --locations all, ${BENCH_AGENCY_LOCATIONS:-50} locations x ${BENCH_AGENCY_CONTACTS:-2000} contacts, each at 100/10s"
	bench_agency
fi

printf '\n==== summary (%s)\n' "$(date -u +%FT%TZ)"
printf '%s\n' "${ROWS[@]}"
rm -rf "$RUN"/*.state "$RUN"/*.state.lock
echo "logs and reports in $RUN"
