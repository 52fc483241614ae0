#!/usr/bin/env bash
# Issue #7 figures, against the embedded sandbox on loopback only:
#
#   1. Requests per contact for a HubSpot import with notes and tasks: a naive
#      one-row-at-a-time client ("before") against what ghlbulk sends ("after"),
#      for a first run and for a second run of the same three commands.
#   2. The plan's request count and ETA against the measured run, at the
#      sandbox's default rate limit (100 requests per 10 s).
#
#   BIN=bin/ghlbulk ./scripts/issue7-figures.sh          # both (~5 min, mostly figure 2)
#   FIGS=1 ./scripts/issue7-figures.sh                   # figure 1 only (~1 min)
#
# Environment:
#   BIN          the ghlbulk binary (bin/ghlbulk); this script builds nothing
#   FIGS         which figures ("1 2")
#   FIG1_ROWS    contacts CSV rows of figure 1 (2000; every 100th row repeats an earlier row)
#   FIG2_ROWS    contacts CSV rows of figure 2 (600)
#   FIG2_RUNS    how many times figure 2 is measured, each on a fresh sandbox (2)
#   KEEP=1       keep the work directory (inputs, reports, logs, request counts)
#
# Inputs are generated into a temp dir from samples/hubspot-contacts.csv,
# samples/hubspot-notes.csv and samples/hubspot-tasks.csv (same columns, the
# samples' mix of lifecycle stages, lead statuses and messages, new names,
# emails, phones and ids). Every request goes through a small counting proxy
# (python3) in front of the sandbox, so the tables also show what went over
# the wire, the calls before the run (preflight, custom field definitions)
# included, next to the report's `requests` and `requests_by_kind`.
# Needs bash, python3 and the binary; nothing else.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${BIN:-bin/ghlbulk}
[[ $BIN == /* ]] || BIN=$ROOT/$BIN
FIGS=${FIGS:-1 2}
FIG1_ROWS=${FIG1_ROWS:-2000}
FIG2_ROWS=${FIG2_ROWS:-600}
FIG2_RUNS=${FIG2_RUNS:-2}
KEEP=${KEEP:-0}

if [[ ! -x $BIN ]]; then
	echo "issue7-figures: $BIN is not an executable (make build, or set BIN)" >&2
	exit 2
fi
command -v python3 >/dev/null || {
	echo "issue7-figures: python3 is needed" >&2
	exit 2
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/issue7-figures.XXXXXX")

# ---- background processes: every one started is recorded and stopped ----
PIDS=()
cleanup() {
	local p
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		kill -TERM "$p" 2>/dev/null || true
	done
	for p in ${PIDS[@]+"${PIDS[@]}"}; do
		wait "$p" 2>/dev/null || true
	done
	PIDS=()
	if [[ $KEEP == 1 ]]; then
		echo "work dir kept: $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- the python helper: generator, counting proxy, tables ----
cat >"$WORK/figs.py" <<'PY'
import csv, http.client, http.server, json, os, re, socket, socketserver, sys, threading, urllib.parse


def read_csv(path):
    with open(path, newline="") as f:
        r = csv.DictReader(f)
        return r.fieldnames, list(r)


def write_csv(path, cols, rows):
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def exchange(i, base):
    # a central-office code base..base+299, never N11 or 555
    e = base + (i * 7) % 300
    if e % 100 == 11 or e == 555:
        e += 1
    return e


def gen(samples, out, n, dup_every, prefix):
    """contacts.csv, notes.csv, tasks.csv of n contact rows into out/."""
    n, dup_every = int(n), int(dup_every)
    assert n < 10000, "phones are unique up to 9,999 rows"
    cols, tpl = read_csv(os.path.join(samples, "hubspot-contacts.csv"))
    ncols, ntpl = read_csv(os.path.join(samples, "hubspot-notes.csv"))
    tcols, ttpl = read_csv(os.path.join(samples, "hubspot-tasks.csv"))
    firsts = list(dict.fromkeys(r["First Name"] for r in tpl))
    lasts = list(dict.fromkeys(r["Last Name"] for r in tpl))
    rows, uniq = [], []
    base_id = 600000 if prefix == "a" else 700000
    for i in range(n):
        if dup_every and i % dup_every == dup_every - 1 and len(uniq) > 40:
            rows.append(dict(uniq[-(1 + (i * 13) % 37)]))  # an exact repeat of a recent row
            continue
        t = tpl[i % len(tpl)]
        r = dict(t)
        first = firsts[(i + i // len(tpl)) % len(firsts)]
        last = lasts[(i * 3 + i // len(tpl)) % len(lasts)]
        rid = base_id + len(uniq)
        r["Record ID"] = str(rid)
        r["First Name"], r["Last Name"] = first, last
        r["Email"] = f"{first}.{last}.{rid}@example.com".lower()
        if t["Phone Number"]:
            d = re.sub(r"\D", "", t["Phone Number"])
            a, e, line = d[:3], exchange(i, 200), f"{i:04d}"
            r["Phone Number"] = f"({a}) {e}-{line}" if t["Phone Number"].startswith("(") else f"{a}-{e}-{line}"
        if t["Mobile Phone Number"]:
            d = re.sub(r"\D", "", t["Mobile Phone Number"])
            r["Mobile Phone Number"] = f"+1 {d[1:4]} {exchange(i, 600)} {i:04d}"
        r["Street Address"] = f"{100 + i % 900} Market St"
        rows.append(r)
        uniq.append(r)
    write_csv(os.path.join(out, "contacts.csv"), cols, rows)

    bodies = [r["Note body"] for r in ntpl]
    notes, tasks = [], []
    for j, c in enumerate(uniq):
        who = f'{c["First Name"]} {c["Last Name"]} ({c["Email"]})'
        for m in range((1, 1, 2, 0)[j % 4]):  # one note per contact on average
            notes.append({
                "Record ID": str(90000000 + len(notes)),
                "Activity date": f"2024-{1 + (j + m) % 12:02d}-{1 + (j * 3 + m) % 28:02d} {9 + j % 8:02d}:{(j * 7) % 60:02d}",
                "Created by": ntpl[j % len(ntpl)]["Created by"],
                "Note body": bodies[(j * 5 + m * 7) % len(bodies)],
                "Associated Contact": who,
                "Associated Contact IDs": c["Record ID"],
            })
        if j % 2 == 0:  # one task per two contacts
            t = dict(ttpl[(j // 2) % len(ttpl)])
            t.update({
                "Record ID": str(91000000 + len(tasks)),
                "Due date": f"2024-{1 + j % 12:02d}-{1 + j % 28:02d} 10:00",
                "Create date": f"2024-01-{1 + j % 28:02d} 09:00",
                "Associated Contact": who,
                "Associated Contact IDs": c["Record ID"],
            })
            tasks.append(t)
        if j % 200 == 199:  # a note and a task of a contact that is not in the export
            notes.append({"Record ID": str(90000000 + len(notes)), "Activity date": "2024-01-11 13:45",
                          "Created by": "Casey Morgan", "Note body": "Asked to be removed from the newsletter.",
                          "Associated Contact": "Former Contact (former@example.com)",
                          "Associated Contact IDs": str(base_id - 1 - j)})
            t = dict(ttpl[6])
            t.update({"Record ID": str(91000000 + len(tasks)), "Associated Contact IDs": str(base_id - 1 - j)})
            tasks.append(t)
    write_csv(os.path.join(out, "notes.csv"), ncols, notes)
    write_csv(os.path.join(out, "tasks.csv"), tcols, tasks)


def naive(d):
    """What a naive client sends for d/contacts.csv, notes.csv, tasks.csv, per run."""
    _, rows = read_csv(os.path.join(d, "contacts.csv"))
    _, notes = read_csv(os.path.join(d, "notes.csv"))
    _, tasks = read_csv(os.path.join(d, "tasks.csv"))
    ids = {r["Record ID"] for r in rows}
    fu = re.compile(r"follow[- ]?up")
    c = {
        "rows": len(rows),
        "contacts": len({r["Email"].strip().lower() for r in rows}),
        "dup_rows": len(rows) - len({tuple(r.values()) for r in rows}),
        "upserts": len(rows),
        "tag_calls": sum(1 for r in rows),  # every row has tags: "hubspot" at least
        "msg_notes": sum(1 for r in rows if r["Message"].strip()),
        "msg_tasks": sum(1 for r in rows if fu.search(r["Message"].lower())),
        "note_rows": len(notes),
        "task_rows": len(tasks),
        "file_notes": sum(1 for r in notes if r["Associated Contact IDs"] in ids),
        "file_tasks": sum(1 for r in tasks if r["Associated Contact IDs"] in ids),
    }
    c["total"] = c["upserts"] + c["tag_calls"] + c["msg_notes"] + c["msg_tasks"] + c["file_notes"] + c["file_tasks"]
    return c


# ---- counting proxy ----

HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade",
       "content-length", "host", "date", "server"}
ID = re.compile(r"^[A-Za-z0-9_-]{16,}$")


def route(method, path):
    p = urllib.parse.urlsplit(path).path
    return method + " " + "/".join("{id}" if ID.match(s) else s for s in p.split("/"))


def proxy(upstream):
    up = urllib.parse.urlsplit(upstream)
    lock = threading.Lock()
    counts = {}
    local = threading.local()

    def count(key, status):
        with lock:
            counts.setdefault("total", 0)
            counts["total"] += 1
            counts.setdefault("by_route", {}).setdefault(key, 0)
            counts["by_route"][key] += 1
            counts.setdefault("by_status", {}).setdefault(str(status), 0)
            counts["by_status"][str(status)] += 1

    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def setup(self):
            super().setup()
            # headers and body go out in two writes: without this, Nagle and
            # delayed ACKs add ~40 ms to every request
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def body(self):
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                data = b""
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        return data
                    data += self.rfile.read(size)
                    self.rfile.readline()
            n = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(n) if n else None

        def reply(self, status, data, headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def handle_any(self):
            data = self.body()
            if self.path.startswith("/__proxy/"):
                with lock:
                    out = json.dumps(counts, sort_keys=True).encode()
                    if self.path == "/__proxy/reset":
                        counts.clear()
                return self.reply(200, out, [("Content-Type", "application/json")])
            hdrs = {k: v for k, v in self.headers.items() if k.lower() not in HOP}
            hdrs["Host"] = up.netloc
            for attempt in (0, 1):
                conn = getattr(local, "conn", None)
                fresh = conn is None
                if fresh:
                    conn = local.conn = http.client.HTTPConnection(up.hostname, up.port, timeout=300)
                    conn.connect()
                    conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                try:
                    conn.request(self.command, self.path, body=data, headers=hdrs)
                    resp = conn.getresponse()
                    payload = resp.read()
                    break
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                    conn.close()
                    local.conn = None
                    if fresh or attempt:  # not a stale keep-alive connection: give up
                        count(route(self.command, self.path), "dropped")
                        self.close_connection = True
                        return
            count(route(self.command, self.path), resp.status)
            self.reply(resp.status, payload, [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP])

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_any

    class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True

    srv = S(("127.0.0.1", 0), H)
    print(f"PROXY_URL=http://127.0.0.1:{srv.server_address[1]}", flush=True)
    srv.serve_forever()


def http_get(url):
    import urllib.request
    with urllib.request.urlopen(url, timeout=30) as r:
        return r.read().decode()


# ---- tables ----

def load(p):
    with open(p) as f:
        return json.load(f)


def plan_of(path):
    """The plan block import printed: {'requests': N, 'kinds': '...', 'eta': '...'}."""
    out, inside = {}, False
    with open(path) as f:
        for line in f:
            s = line.rstrip("\n")
            if s.strip() == "plan":
                inside = True
                continue
            if inside and s and not s.startswith(" "):
                break
            if inside:
                m = re.match(r"\s+requests\s+(\d+)\s*\((.*)\)", s)
                if m:
                    out["requests"], out["kinds"] = int(m.group(1)), m.group(2)
                m = re.match(r"\s+ETA\s+(.*)", s)
                if m:
                    out["eta"] = m.group(1).strip()
    return out


def kinds(rep):
    return ", ".join(f"{k} {v}" for k, v in sorted(rep.get("requests_by_kind", {}).items())) or "none"


def wire_routes(w):
    return ", ".join(f"{k} {v}" for k, v in sorted(w.get("by_route", {}).items(), key=lambda kv: -kv[1])) or "none"


def md(header, rows):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    line = lambda r: "| " + " | ".join(str(x).ljust(w) for x, w in zip(r, widths)) + " |"
    print(line(header))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def table1(d, data):
    nv = naive(data)
    steps = ["contacts", "notes", "tasks"]
    runs = {}
    for run in (1, 2):
        runs[run] = {s: {"rep": load(f"{d}/fig1-run{run}-{s}.json"), "wire": load(f"{d}/fig1-run{run}-{s}.wire.json"),
                         "plan": plan_of(f"{d}/fig1-run{run}-{s}.out")} for s in steps}
    contacts = nv["contacts"]
    print(f"\n== Figure 1. Requests per contact, HubSpot import with notes and tasks "
          f"(sandbox --rate off --daily 0)")
    print(f"input: {nv['rows']} contact rows ({contacts} contacts, {nv['dup_rows']} rows repeating an earlier row), "
          f"{nv['note_rows']} note rows, {nv['task_rows']} task rows "
          f"({nv['note_rows'] - nv['file_notes']} notes and {nv['task_rows'] - nv['file_tasks']} tasks name a contact "
          f"not in the export); the messages give {nv['msg_notes']} notes and {nv['msg_tasks']} follow-up tasks\n")
    print("naive = rows x (1 upsert + 1 tag request, POST /contacts/{id}/tags) + rows with a Message (1 note each)\n"
          "        + rows whose Message matches follow[- ]?up (1 task each) + note rows + task rows of known contacts;\n"
          f"        the same again on every re-run: {nv['upserts']} + {nv['tag_calls']} + {nv['msg_notes']} + "
          f"{nv['msg_tasks']} + {nv['file_notes']} + {nv['file_tasks']} = {nv['total']}\n")
    hdr = ["run", "contacts", "notes", "tasks", "naive req", "naive/contact", "ghlbulk req (report)",
           "report/contact", "ghlbulk req (wire)", "wire/contact", "saved (wire)"]
    rows = []
    tot = {"naive": 0, "rep": 0, "wire": 0}
    for run in (1, 2):
        r = runs[run]
        notes = sum(r[s]["rep"].get("notes_created", 0) for s in steps)
        tasks = sum(r[s]["rep"].get("tasks_created", 0) for s in steps)
        rep = sum(r[s]["rep"]["requests"] for s in steps)
        wire = sum(r[s]["wire"].get("total", 0) for s in steps)
        tot["naive"] += nv["total"]
        tot["rep"] += rep
        tot["wire"] += wire
        rows.append([f"{run} ({'first' if run == 1 else 'again, same input'})", contacts,
                     f"{notes} created",
                     f"{tasks} created", nv["total"], f"{nv['total'] / contacts:.3f}", rep, f"{rep / contacts:.3f}", wire,
                     f"{wire / contacts:.3f}", f"{100 * (1 - wire / nv['total']):.1f} %"])
    rows.append(["both runs", contacts, "", "", tot["naive"], f"{tot['naive'] / contacts:.3f}", tot["rep"],
                 f"{tot['rep'] / contacts:.3f}", tot["wire"],
                 f"{tot['wire'] / contacts:.3f}", f"{100 * (1 - tot['wire'] / tot['naive']):.1f} %"])
    md(hdr, rows)

    print("\nper command (report `requests`, the sum of `requests_by_kind`, what the sandbox answered, the plan):\n")
    hdr = ["run", "command", "rows", "created", "upd.", "unch.", "rej.", "naive", "report req", "sum by_kind", "wire",
           "plan req", "requests_by_kind", "wire by route"]
    rows = []
    naive_of = {"contacts": nv["upserts"] + nv["tag_calls"] + nv["msg_notes"] + nv["msg_tasks"],
                "notes": nv["file_notes"], "tasks": nv["file_tasks"]}
    for run in (1, 2):
        for s in steps:
            rep, wire, plan = runs[run][s]["rep"], runs[run][s]["wire"], runs[run][s]["plan"]
            rows.append([run, s, rep["rows_read"], rep["created"], rep["updated"], rep["unchanged"], rep["rejected"],
                         naive_of[s], rep["requests"],
                         sum(rep.get("requests_by_kind", {}).values()), wire.get("total", 0),
                         plan.get("requests", "-"), kinds(rep), wire_routes(wire)])
    md(hdr, rows)

    # attribution, first run
    r = runs[1]
    bk = {}
    for s in steps:
        for k, v in r[s]["rep"].get("requests_by_kind", {}).items():
            bk[k] = bk.get(k, 0) + v
    wire1 = sum(r[s]["wire"].get("total", 0) for s in steps)
    kind_sum = sum(bk.values())
    ups, tags = bk.get("upsert", 0), bk.get("bulk_tags", 0) + bk.get("tags", 0)
    note_req, task_req = bk.get("note", 0), bk.get("task", 0)
    lookups = bk.get("list_notes", 0) + bk.get("list_tasks", 0)
    known = {"upsert", "bulk_tags", "tags", "note", "task", "list_notes", "list_tasks"}
    others = {k: v for k, v in bk.items() if k not in known}
    kind_route = {"upsert": "POST /contacts/upsert", "bulk_tags": "POST /contacts/bulk/tags/update/add",
                  "note": "POST /contacts/{id}/notes", "task": "POST /contacts/{id}/tasks",
                  "list_notes": "GET /contacts/{id}/notes", "list_tasks": "GET /contacts/{id}/tasks"}
    rest = {}
    for s in steps:
        for k, v in r[s]["wire"].get("by_route", {}).items():
            if k not in kind_route.values():
                rest[k] = rest.get(k, 0) + v
    unkinded = ", ".join(f"{k} {v}" for k, v in sorted(rest.items(), key=lambda kv: -kv[1])) or "none"
    plan_ups = re.search(r"(\d+) upserts", r["contacts"]["plan"].get("kinds", ""))
    plan_ups = plan_ups.group(1) if plan_ups else "?"
    nn, nt = nv["msg_notes"] + nv["file_notes"], nv["msg_tasks"] + nv["file_tasks"]
    print("\nwhere the difference comes from, first run (naive minus ghlbulk, by request kind):\n")
    hdr = ["kind", "naive", "ghlbulk", "saved", "what"]
    rows = [
        ["upsert", nv["upserts"], ups, nv["upserts"] - ups,
         f"{nv['dup_rows']} rows repeat an earlier row (the plan counted {plan_ups} upserts)"],
        ["tags", nv["tag_calls"], tags, nv["tag_calls"] - tags,
         "POST /contacts/bulk/tags/update/add, one call shared by the contacts of a tag set"],
        ["note", nn, note_req, nn - note_req, "a repeated row's note is in the journal already (same contact, same content)"],
        ["task", nt, task_req, nt - task_req, "likewise for tasks"],
        ["list_notes + list_tasks", 0, lookups, -lookups,
         "each note/task of the notes and tasks imports is looked up on its contact first (one GET per row); "
         "not in the report's `requests`"],
    ]
    for k, v in sorted(others.items()):
        rows.append([k, 0, v, -v, "in requests_by_kind"])
    rows += [
        ["not in requests_by_kind", 0, wire1 - kind_sum, -(wire1 - kind_sum), "wire minus by_kind: " + unkinded],
        ["total", nv["total"], wire1, nv["total"] - wire1, ""],
    ]
    md(hdr, rows)
    w2 = sum(runs[2][s]["wire"].get("total", 0) for s in steps)
    wr2 = sum(v for s in steps for k, v in runs[2][s]["wire"].get("by_route", {}).items()
              if not k.startswith("GET") and "search" not in k)
    print(f"\nsecond run: {w2} requests on the wire ({wr2} writes) against {nv['total']} naive: "
          "unchanged rows and journaled notes and tasks send nothing")


def table2(d, runs):
    print(f"\n== Figure 2. Plan vs run at the sandbox's default rate limit (100 requests per 10 s)\n")
    hdr = ["run", "rows", "plan req", "plan ETA (printed)", "plan ETA (req x 10 s/100)", "report req", "sum by_kind",
           "wire req", "elapsed_s", "wall s", "elapsed/ETA", "wire req/s", "429s", "retries"]
    rows, extra = [], []
    for i in range(1, int(runs) + 1):
        p = f"{d}/fig2-run{i}"
        rep, wire, plan = load(p + ".json"), load(p + ".wire.json"), plan_of(p + ".out")
        wall = float(open(p + ".wall").read())
        eta = plan.get("requests", 0) * 10 / 100
        rows.append([i, rep["rows_read"], plan.get("requests", "-"), plan.get("eta", "-"), f"{eta:.1f} s",
                     rep["requests"], sum(rep.get("requests_by_kind", {}).values()), wire.get("total", 0),
                     f"{rep['elapsed_s']:.1f}", f"{wall:.1f}", f"{rep['elapsed_s'] / eta:.3f}" if eta else "-",
                     f"{wire.get('total', 0) / wall:.2f}", wire.get("by_status", {}).get("429", 0), rep["retries"]])
        extra.append((i, plan.get("kinds", ""), kinds(rep), wire_routes(wire), rep.get("outcome")))
    md(hdr, rows)
    print()
    for i, pk, rk, wr, oc in extra:
        print(f"run {i}: plan ({pk}); report requests_by_kind: {rk}; outcome {oc}")
        print(f"       wire: {wr}")


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "gen":
        gen(*args)
    elif cmd == "naive":
        print(json.dumps(naive(*args)))
    elif cmd == "proxy":
        proxy(*args)
    elif cmd == "get":
        print(http_get(*args))
    elif cmd == "table1":
        table1(*args)
    elif cmd == "table2":
        table2(*args)
PY
PY() { python3 "$WORK/figs.py" "$@"; }

# wait_line FILE PID PATTERN: waits for FILE's first line to match PATTERN.
wait_line() {
	local i
	for ((i = 0; i < 600; i++)); do
		if [[ -s $1 ]] && head -1 "$1" | grep -q "$3"; then
			return 0
		fi
		if ! kill -0 "$2" 2>/dev/null; then
			echo "issue7-figures: process $2 exited before it was ready:" >&2
			cat "${1%.out}.err" >&2 || true
			return 1
		fi
		sleep 0.1
	done
	echo "issue7-figures: $1 not ready in 60 s" >&2
	return 1
}

# start NAME SANDBOX-ARGS...: a sandbox and a counting proxy in front of it;
# exports GHL_* with GHL_API_URL pointing at the proxy.
SB_PID= PX_PID= PROXY_URL=
start() {
	local name=$1
	shift
	"$BIN" sandbox --addr 127.0.0.1:0 "$@" >"$WORK/$name.sandbox.out" 2>"$WORK/$name.sandbox.err" &
	SB_PID=$!
	PIDS+=("$SB_PID")
	wait_line "$WORK/$name.sandbox.out" "$SB_PID" '^GHL_API_URL='
	local line
	line=$(head -1 "$WORK/$name.sandbox.out")
	export ${line?}
	# python3 itself in the background, not the PY function (a subshell whose
	# pid would be recorded and killed while python3 went on)
	python3 "$WORK/figs.py" proxy "$GHL_API_URL" >"$WORK/$name.proxy.out" 2>"$WORK/$name.proxy.err" &
	PX_PID=$!
	PIDS+=("$PX_PID")
	wait_line "$WORK/$name.proxy.out" "$PX_PID" '^PROXY_URL='
	PROXY_URL=$(head -1 "$WORK/$name.proxy.out" | cut -d= -f2-)
	export GHL_API_URL=$PROXY_URL
}
stop() {
	local p
	for p in $PX_PID $SB_PID; do
		kill -TERM "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	SB_PID= PX_PID=
}
# take OUT: the proxy's counts since the last take, to OUT.
take() { PY get "$PROXY_URL/__proxy/reset" >"$1"; }

# imp OUT-PREFIX ARGS...: one import, stdout/stderr/report kept, exit 0 required.
imp() {
	local p=$1 rc=0 t0 t1
	shift
	t0=$(date +%s.%N)
	"$BIN" import "$@" --report "$p.json" --no-progress >"$p.out" 2>"$p.err" || rc=$?
	t1=$(date +%s.%N)
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", b - a }' >"$p.wall"
	take "$p.wire.json"
	if ((rc != 0)); then
		echo "issue7-figures: ghlbulk import $* exited $rc:" >&2
		cat "$p.out" "$p.err" >&2
		return 1
	fi
}

echo "issue7-figures: $("$BIN" version 2>/dev/null | head -1) ($BIN, built $(date -u -r "$BIN" +%FT%TZ)), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "work dir $WORK"

# ---- figure 1 ----
if [[ " $FIGS " == *" 1 "* ]]; then
	D=$WORK/fig1
	mkdir -p "$D"
	PY gen "$ROOT/samples" "$D" "$FIG1_ROWS" 100 a
	start fig1 --rate off --daily 0
	take "$D/preamble.wire.json"
	for run in 1 2; do
		imp "$WORK/fig1-run$run-contacts" "$D/contacts.csv" --mapping "$ROOT/mappings/hubspot.yaml" \
			--id-map "$D/map.csv" --state "$D/contacts.state" --rejects "$D/contacts.rejects.csv"
		imp "$WORK/fig1-run$run-notes" --kind notes "$D/notes.csv" --mapping "$ROOT/mappings/hubspot-notes.yaml" \
			--id-map "$D/map.csv" --state "$D/notes.state" --rejects "$D/notes.rejects.csv"
		imp "$WORK/fig1-run$run-tasks" --kind tasks "$D/tasks.csv" --mapping "$ROOT/mappings/hubspot-tasks.yaml" \
			--id-map "$D/map.csv" --state "$D/tasks.state" --rejects "$D/tasks.rejects.csv"
	done
	stop
	PY table1 "$WORK" "$D"
fi

# ---- figure 2 ----
if [[ " $FIGS " == *" 2 "* ]]; then
	D=$WORK/fig2
	mkdir -p "$D"
	PY gen "$ROOT/samples" "$D" "$FIG2_ROWS" 100 b
	for ((run = 1; run <= FIG2_RUNS; run++)); do
		start "fig2-$run" # the defaults: --rate 100/10s --daily 200000
		take "$D/preamble-$run.wire.json"
		imp "$WORK/fig2-run$run" "$D/contacts.csv" --mapping "$ROOT/mappings/hubspot.yaml" \
			--state "$D/run$run.state" --rejects "$D/run$run.rejects.csv"
		stop
	done
	PY table2 "$WORK" "$FIG2_RUNS"
fi
