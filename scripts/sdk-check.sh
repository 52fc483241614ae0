#!/usr/bin/env bash
# Runs HighLevel's official Node SDK (@gohighlevel/api-client) against
# `ghlbulk sandbox`, to show that the sandbox answers as the real API does for
# a client we did not write, for a single location and for an agency of
# SDK_CHECK_LOCATIONS (its OAuth endpoints). Exits with the status of
# scripts/sdk-check.mjs.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bin=/tmp/ghlbulk-sdk/ghlbulk
go build -o "$bin" ./cmd/ghlbulk

# Versions are pinned in scripts/package.json and package-lock.json; install
# once. `npm install`, not `npm ci`: the lock can only list the DuckDB
# bindings for platforms the registry served when it was written, and npm ci
# refuses a lock that lacks the other platforms' optional packages.
if [ ! -d scripts/node_modules/@gohighlevel/api-client ]; then
	npm install --prefix scripts --no-audit --no-fund >&2
fi

# sdk-check.mjs expects exactly this many contacts before it adds its own,
# in each of the agency's SDK_CHECK_LOCATIONS locations.
export SDK_CHECK_SEEDED=20
export SDK_CHECK_LOCATIONS=3

# The sandbox logs to stderr; keep that in a file so a failure can show it.
log=$(mktemp /tmp/ghlbulk-sdk/sandbox.XXXXXX.log)
fifo=$(mktemp -u /tmp/ghlbulk-sdk/out.XXXXXX)
mkfifo "$fifo"
"$bin" sandbox --addr 127.0.0.1:0 --contacts "$SDK_CHECK_SEEDED" --locations "$SDK_CHECK_LOCATIONS" >"$fifo" 2>"$log" &
sandbox_pid=$!
node_pid=
cleanup() {
	if [ -n "$node_pid" ]; then kill "$node_pid" 2>/dev/null || true; fi
	kill "$sandbox_pid" 2>/dev/null || true
	wait "$sandbox_pid" 2>/dev/null || true
	rm -f "$fifo" "$log"
}
trap cleanup EXIT
# Turn INT/TERM into a normal exit so the EXIT trap stops the sandbox.
trap 'exit 130' INT
trap 'exit 143' TERM

# stdout's three lines: GHL_API_URL=... GHL_LOCATION_ID=... GHL_TOKEN=...;
# GHL_CLIENT_ID=... GHL_CLIENT_SECRET=...; and, with --locations,
# GHL_COMPANY_TOKEN=... GHL_LOCATIONS=id,id,id.
# Read them through a FIFO held open on fd 3, so the sandbox never gets SIGPIPE
# for later writes and we don't have to poll a file.
exec 3<"$fifo"
for n in 1 2 3; do
	if ! IFS= read -r -t 60 line <&3; then
		echo "sandbox printed no line $n within 60s; its log:" >&2
		cat "$log" >&2
		exit 1
	fi
	for kv in $line; do
		case "$kv" in
		GHL_API_URL=* | GHL_LOCATION_ID=* | GHL_TOKEN=* | GHL_CLIENT_ID=* | GHL_CLIENT_SECRET=* | GHL_COMPANY_TOKEN=* | GHL_LOCATIONS=*)
			export "${kv?}" ;;
		*) echo "unexpected word on the sandbox's line $n: ${kv%%=*}" >&2; exit 1 ;;
		esac
	done
done
: "${GHL_API_URL:?missing from the sandbox line}" "${GHL_LOCATION_ID:?}" "${GHL_TOKEN:?}"
: "${GHL_CLIENT_ID:?}" "${GHL_CLIENT_SECRET:?}" "${GHL_COMPANY_TOKEN:?}" "${GHL_LOCATIONS:?}"
# Drain anything else the sandbox writes to stdout.
cat <&3 >/dev/null &

# In the background with wait, because bash runs a signal's trap only once
# a foreground child has ended; wait returns at once on INT/TERM.
node scripts/sdk-check.mjs &
node_pid=$!
status=0
wait "$node_pid" || status=$?
node_pid=
if [ "$status" -ne 0 ]; then
	echo "--- sandbox log ---" >&2
	tail -n 40 "$log" >&2
fi
exit "$status"
