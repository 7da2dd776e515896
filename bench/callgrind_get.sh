#!/usr/bin/env bash
# Instructions per get in sekretsd, split by part, counted by callgrind (stable on a busy
# machine, where wall-clock and CPU figures are not): a hub of N credentials is populated
# through the socket, then the daemon runs under callgrind while bench_wire keeps 64 gets
# in flight for S seconds (every reply checked). Only the work of serving frames is
# counted (serve_frame and below; not libuv's reads and writes).
#
# Usage: bench/callgrind_get.sh [BUILD_DIR] [N (10000)] [S (6)]     needs valgrind
# Env:   CG_KEEP=FILE  keeps callgrind's output there, for callgrind_annotate
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
n=${2:-10000}
secs=${3:-6}
daemon=$build/daemon/sekretsd
wire=$build/bench/bench_wire
cli=$build/client/cli/sekrets-cli
tmp=$(mktemp -d /tmp/sekrets-callgrind.XXXXXX)
chmod 700 "$tmp"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$tmp"; }
keep() { [ -n "${CG_KEEP:-}" ] && cp "$tmp/cg.out" "$CG_KEEP" 2>/dev/null; cleanup; }
trap keep EXIT
head -c 32 /dev/urandom > "$tmp/keyfile"
chmod 600 "$tmp/keyfile"
sock=$tmp/s.sock
start() { # start [VALGRIND ARGS...]: the daemon, polled until it answers (bounded)
  "$@" "$daemon" --foreground --socket "$sock" --hub "$tmp/hub" --keyfile "$tmp/keyfile" \
    --log-level warn 2>"$tmp/daemon.log" &
  pid=$!
  for _ in $(seq 1200); do SEKRETS_SOCKET=$sock "$cli" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "sekretsd did not start (see $tmp/daemon.log)" >&2; return 1
}
stop() { kill "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
start
"$wire" --socket "$sock" --populate "$n" --protocols 100 >/dev/null
stop
start valgrind --tool=callgrind --callgrind-out-file="$tmp/cg.out" --collect-atstart=no \
  --toggle-collect=serve_frame
# gets of a built mirror: those during the build read LMDB and seal what they read into
# it. Its slices run between requests; at 10,000 credentials under callgrind, 15 s of
# waiting gave 3,876 instructions a frame, none gave 5,417
sleep $((5 + n / 1000))
"$wire" --socket "$sock" --names "$n" --depth 64 --seconds "$secs" >/dev/null ||
  { echo "bench_wire: wrong or failed replies" >&2; exit 1; }
stop
# inclusive instructions of a function (0 if it never ran or was inlined everywhere); an
# LTO build (the default) names some copies name.lto_priv.0, name.constprop.0
incl() { callgrind_annotate --inclusive=yes "$tmp/cg.out" 2>/dev/null |
         awk -v f=":$1" '!v && (index($0, f " ") || index($0, f ".")) { gsub(",", "", $1); v = $1 }
                         END { print v + 0 }'; }
# calls of serve_frame: callgrind names a function once, "(ID) serve_frame" on an fn= or
# a cfn= line, and by "(ID)" alone after that; each call site is a cfn= line, then calls=
gets=$(awk '!id && / serve_frame$/ { id = $1; sub(/^c?fn=/, "", id) }
            id && /^cfn=/ && index($1, "cfn=" id) == 1 { getline; split($1, a, "="); s += a[2] }
            END { print s + 0 }' "$tmp/cg.out")
[ "$gets" -gt 0 ] || { echo "callgrind counted no frames served" >&2; exit 1; }
total=$(incl serve_frame); decode=$(incl proto_request_decode)
store=$(( $(incl store_get) + $(incl store_release) ))
op_get=$(incl op_get)
awk -v g="$gets" -v n="$n" -v t="$total" -v d="$decode" -v s="$store" -v o="$op_get" 'BEGIN {
  printf "%d gets over %d credentials, instructions per get:\n", g, n
  printf "  %-28s %6.0f\n", "all (serve_frame)", t / g
  if (d == 0 || s == 0 || o == 0) { # a part inlined into its caller: no split
    print "  (parts inlined by LTO: configure with -Db_lto=false to split them)"; exit }
  printf "  %-28s %6.0f\n", "request decode", d / g
  printf "  %-28s %6.0f\n", "store (get + release)", s / g
  printf "  %-28s %6.0f\n", "reply (op_get - store)", (o - s) / g
  printf "  %-28s %6.0f\n", "rest (dispatch, session)", (t - d - o) / g }'
