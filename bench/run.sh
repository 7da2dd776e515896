#!/usr/bin/env bash
# The benchmark: sekretsd side by side with the raw Unix-socket floor, Redis 7, and the
# per-process look-ups people use today. Prints one table of figures and ratios against
# their targets, and writes results.csv and latency.png to BUILD_DIR/bench-out/.
# Every get draws its name uniformly from all N credentials of the hub and every reply is
# checked (bench_wire); each hub is populated through the socket (puts, as an import) and
# measured right away on the same daemon, then again after a restart. Redis holds the same
# keys and value bytes, loaded the same way. Server CPU per request comes from
# /proc/PID/task/*/schedstat (the client's own cost left out).
#
# Usage: bench/run.sh [BUILD_DIR]      (or: meson compile -C build bench)
# Env:   BENCH_SECONDS  seconds per load run (default 3)
#        BENCH_SIZES    hub sizes for get (default "1000 100000 1000000")
#        BENCH_ROUNDS   interleaved rounds, of which the medians are kept (default 3)
# Installs its peers from Debian when missing (needs root then): redis-server,
# redis-tools, pass, gnupg, git, openssh-client, gnuplot-nox.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$top/build}" && pwd)
secs=${BENCH_SECONDS:-3}
sizes=${BENCH_SIZES:-"1000 100000 1000000"}
daemon=$build/daemon/sekretsd
cli=$build/client/cli/sekrets-cli
wire=$build/bench/bench_wire
minimal=$build/bench/bench_minimal
spawn=$build/bench/bench_spawn
unlock=$build/bench/bench_unlock
out=$build/bench-out
csv=$out/results.csv

need=()
for p in redis-server redis-tools pass gnupg git openssh-client gnuplot-nox; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if ((${#need[@]})); then
  echo "installing peers: ${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
meson compile -C "$build" >/dev/null
for b in "$daemon" "$cli" "$wire" "$minimal" "$spawn" "$unlock"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

tmp=$(mktemp -d /tmp/sekrets-bench.XXXXXX)
chmod 700 "$tmp"
mkdir -p "$out"
echo "what,clients,depth,req_per_s,p50_us,p99_us,errors,server_us,client_us,max_us" > "$csv"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${SSH_AGENT_PID:-}" ] && kill "$SSH_AGENT_PID" 2>/dev/null || true
  # git's cache daemon outlives the run and keeps our stdout open (a `meson compile bench`
  # then never returns)
  [ -S "$tmp/home/git-cache" ] && git credential-cache --socket "$tmp/home/git-cache" exit 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- helpers ----
declare -A R P50 P99 SRV MAX # results by key: req/s, p50, p99, max (us), server CPU us/req
# wire KEY ARGS...: one bench_wire run; stores its figures under KEY (with --beside-puts,
# the puts' under KEY_puts). A wrong reply stops the benchmark: a figure for wrong answers
# is no figure.
wire_run() {
  local key=$1 k; shift
  "$wire" --seconds "$secs" --label "$key" --csv "$csv" "$@" >/dev/null ||
    { echo "bench_wire $key: wrong or failed replies (see $csv)" >&2; exit 1; }
  for k in "$key" "${key}_puts"; do
    grep -q "^$k," "$csv" || continue
    IFS=, read -r _ _ _ R[$k] P50[$k] P99[$k] _ SRV[$k] _ MAX[$k] < <(grep "^$k," "$csv" | tail -1)
  done
}
# median of the values given
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# medians of interleaved rounds: keep KEY after each run, settle at the end
rounds=${BENCH_ROUNDS:-3}
declare -A RS P50S P99S SRVS
keep() { RS[$1]+="${R[$1]} "; P50S[$1]+="${P50[$1]} "; P99S[$1]+="${P99[$1]} "; SRVS[$1]+="${SRV[$1]} "; }
settle() { # replace each kept key's figures by their medians
  local k
  for k in "${!RS[@]}"; do
    R[$k]=$(median ${RS[$k]}); P50[$k]=$(median ${P50S[$k]}); P99[$k]=$(median ${P99S[$k]})
    SRV[$k]=$(median ${SRVS[$k]})
  done
}
wait_ping() { for _ in $(seq 400); do SEKRETS_SOCKET=$1 "$cli" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
ms_now() { date +%s%N; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }
shape_args() { case $1 in 1) ;; d64) echo --depth 64 ;; c8) echo --clients 8 ;; c64) echo --clients 64 ;; esac; }
shapes="1 d64 c8 c64"

head -c 32 /dev/urandom > "$tmp/keyfile"
chmod 600 "$tmp/keyfile"
mkdir -m 700 "$tmp/run"
declare -A RPID SD_PID SD_SOCK RSS_POP RSS_FRESH ANON_FRESH RSS_RST ANON_RST RRSS START BYTES POP_S
start_sekretsd() { # NAME HUBDIR: a daemon per hub, each on its own socket
  local t0 sock=$tmp/run/$1.sock
  t0=$(ms_now)
  "$daemon" --foreground --socket "$sock" --hub "$2" --keyfile "$tmp/keyfile" --log-level warn &
  SD_PID[$1]=$!
  SD_SOCK[$1]=$sock
  pids+=("$!")
  wait_ping "$sock"
  start_ms=$(( ($(ms_now) - t0) / 1000000 ))
}
stop_sekretsd() { kill "${SD_PID[$1]}"; wait "${SD_PID[$1]}" 2>/dev/null || true; }
# Redis 7 on a Unix socket: one without persistence per hub size (fresh, so that its RSS
# is that of the same values), one with appendfsync always for the puts.
start_redis() { # NAME ARGS...
  local name=$1; shift
  mkdir -p "$tmp/$name"
  redis-server --port 0 --unixsocket "$tmp/$name.sock" --unixsocketperm 700 --save '' \
    --dir "$tmp/$name" --daemonize no "$@" >/dev/null &
  redis_pid=$!
  pids+=("$redis_pid")
  for _ in $(seq 200); do redis-cli -s "$tmp/$name.sock" ping >/dev/null 2>&1 && return 0; sleep 0.05; done
  return 1
}

echo "sekrets benchmark: $secs s per run, median of $rounds interleaved rounds, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
s1=$(echo "$sizes" | awk '{print $1}')
big=$(echo "$sizes" | awk '{print $NF}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

# ---- per hub size: populate through the socket, then gets right away, beside Redis ----
for n in $sizes; do
  echo "hub of $n credentials: populating through the socket ..."
  start_sekretsd "h$n" "$tmp/hub-$n"
  t0=$(ms_now)
  "$wire" --socket "${SD_SOCK[h$n]}" --populate "$n" --protocols 100 >/dev/null
  POP_S[$n]=$(awk -v ns=$(( $(ms_now) - t0 )) 'BEGIN {printf "%.1f", ns / 1e9}')
  RSS_POP[$n]=$(rss_kb "${SD_PID[h$n]}")
  start_redis "redis-$n" --appendonly no
  RPID[$n]=$redis_pid
  "$wire" --redis --socket "$tmp/redis-$n.sock" --populate "$n" --protocols 100 >/dev/null
  sd=(--socket "${SD_SOCK[h$n]}" --names "$n" --server-pid "${SD_PID[h$n]}")
  rd=(--redis --socket "$tmp/redis-$n.sock" --names "$n" --server-pid "${RPID[$n]}")
  for round in $(seq "$rounds"); do
    echo "  round $round/$rounds ..."
    for shape in $shapes; do
      wire_run "floor_$shape" --echo --names "$n" $(shape_args $shape); keep "floor_$shape"
      wire_run "get_${n}_$shape" "${sd[@]}" $(shape_args $shape); keep "get_${n}_$shape"
      wire_run "redis_get_${n}_$shape" "${rd[@]}" $(shape_args $shape); keep "redis_get_${n}_$shape"
    done
  done
  RSS_FRESH[$n]=$(rss_kb "${SD_PID[h$n]}")
  ANON_FRESH[$n]=$(anon_kb "${SD_PID[h$n]}")
  RRSS[$n]=$(rss_kb "${RPID[$n]}")
  kill "${RPID[$n]}"; wait "${RPID[$n]}" 2>/dev/null || true
done

# ---- the smallest and the biggest hub back to back: the ratio of each pair is the figure ----
PAIRS="" CPUPAIRS=""
if [ "$big" != "$s1" ]; then
  echo "1 client and 64 in flight at $s1 and at $big, back to back ..."
  for round in $(seq "$rounds"); do
    for shape in 1 d64; do
      for n in $s1 $big; do
        wire_run "pair_${n}_$shape" --socket "${SD_SOCK[h$n]}" --names "$n" --server-pid "${SD_PID[h$n]}" $(shape_args $shape)
      done
      if [ $shape = 1 ]; then PAIRS+="$(ratio "${P50[pair_${big}_1]}" "${P50[pair_${s1}_1]}") "
      else CPUPAIRS+="$(ratio "${SRV[pair_${big}_d64]}" "${SRV[pair_${s1}_d64]}") "; fi
    done
  done
fi

# ---- restarted: the same hubs after a restart ----
for n in $sizes; do
  stop_sekretsd "h$n"
  start_sekretsd "h$n" "$tmp/hub-$n"     # start time on a populated hub: unlock + mirror
  START[$n]=$start_ms
  BYTES[$n]=$(stat -c %s "$tmp/hub-$n/data.mdb")
done
echo "after a restart ..."
for round in $(seq "$rounds"); do
  for n in $sizes; do
    for shape in 1 d64; do
      wire_run "rget_${n}_$shape" --socket "${SD_SOCK[h$n]}" --names "$n" --server-pid "${SD_PID[h$n]}" $(shape_args $shape)
      keep "rget_${n}_$shape"
    done
  done
done
for n in $sizes; do
  RSS_RST[$n]=$(rss_kb "${SD_PID[h$n]}")
  ANON_RST[$n]=$(anon_kb "${SD_PID[h$n]}")
done

# ---- puts (on the smallest hub, the same bodies again) beside Redis appendfsync always ----
# getDb of a 1,000-name protocol on the smallest hub
for i in $(seq 0 999); do
  printf '{"id": %d, "op": "put", "protocol": "db1000", "name": "user%d", "body": {"password": "x"}}\n' "$i" "$i"
done | while read -r req; do SEKRETS_SOCKET=${SD_SOCK[h$s1]} "$cli" call "$req" >/dev/null; done
start_redis redis-aof --appendonly yes --appendfsync always
aof_pid=$redis_pid
echo "puts ..."
sd=(--socket "${SD_SOCK[h$s1]}" --op put --names "$s1" --server-pid "${SD_PID[h$s1]}")
rd=(--redis --socket "$tmp/redis-aof.sock" --op put --names "$s1" --server-pid "$aof_pid")
for round in $(seq "$rounds"); do
  for shape in 1 d64 c8; do
    wire_run "put_$shape" "${sd[@]}" $(shape_args $shape); keep "put_$shape"
    wire_run "redis_set_$shape" "${rd[@]}" $(shape_args $shape); keep "redis_set_$shape"
  done
  wire_run getdb_1000 --socket "${SD_SOCK[h$s1]}" --op getdb --server-pid "${SD_PID[h$s1]}"; keep getdb_1000
  # one client's gets beside 64 puts in flight on the biggest hub: its checkpoints commit
  # the most dirty pages (issue #20: they used to stall every get for up to ~0.5 s)
  wire_run get_beside_puts --socket "${SD_SOCK[h$big]}" --names "$big" --beside-puts 64 \
    --server-pid "${SD_PID[h$big]}"
  keep get_beside_puts; keep get_beside_puts_puts
done
# the hub still holds every body the gets expect, after the puts
wire_run check_after_puts --socket "${SD_SOCK[h$s1]}" --names "$s1" --depth 64
settle
for n in $sizes; do stop_sekretsd "h$n"; done
kill "$aof_pid"; wait "$aof_pid" 2>/dev/null || true

# ---- 4. per-process look-ups (200 runs each, minus /bin/true) ----
echo "per-process look-ups ..."
runs=200
# per_call STDIN COMMAND...: median wall time of one whole process, in microseconds
per_call() { local in=$1; shift; "$spawn" "$runs" "$in" "$@" | awk '{print $1}'; }
start_sekretsd cli "$tmp/hub-cli"
echo '{"password": "s3cret-cli"}' | SEKRETS_SOCKET=${SD_SOCK[cli]} "$cli" put https bob >/dev/null
export SEKRETS_SOCKET=${SD_SOCK[cli]}
true_us=$(per_call - /bin/true)
cli_us=$(per_call - "$cli" get bob -p https -f password)
min_us=$(per_call - "$minimal" https bob)
export HOME=$tmp/home GNUPGHOME=$tmp/home/.gnupg PASSWORD_STORE_DIR=$tmp/home/.password-store
mkdir -p "$GNUPGHOME" && chmod 700 "$HOME" "$GNUPGHOME"
git config --global credential.helper 'cache --timeout 600 --socket '"$tmp/home/git-cache"
printf 'protocol=https\nhost=example.com\nusername=bob\npassword=s3cret-git\n\n' | git credential approve
printf 'protocol=https\nhost=example.com\n\n' > "$tmp/git-query"
git_us=$(per_call "$tmp/git-query" git credential fill)
gpg --batch --pinentry-mode loopback --passphrase '' --quick-gen-key bench@sekrets.invalid default default never >/dev/null 2>&1
pass init bench@sekrets.invalid >/dev/null
printf 's3cret-pass\n' | pass insert -e bench/bob >/dev/null
pass_us=$(runs=40 per_call - pass show bench/bob)
eval "$(ssh-agent -s -a "$tmp/ssh-agent.sock")" >/dev/null
ssh_us=$(per_call - ssh-add -l)
unset SEKRETS_SOCKET
stop_sekretsd cli

# ---- 5. unlock time at the default KDF limits ----
sd_sock=$tmp/run/pass.sock
"$daemon" --foreground --socket "$sd_sock" --hub "$tmp/hub-pass" --log-level warn &
sd_pid=$!
pids+=("$sd_pid")
wait_ping "$sd_sock"
(umask 077; printf 'bench passphrase' > "$tmp/pass") # the CLI warns about a readable one
SEKRETS_SOCKET=$sd_sock "$cli" init --passphrase-file "$tmp/pass" >/dev/null
SEKRETS_SOCKET=$sd_sock "$cli" lock >/dev/null
t0=$(ms_now)
SEKRETS_SOCKET=$sd_sock "$cli" unlock --passphrase-file "$tmp/pass" >/dev/null
unlock_ms=$(( ($(ms_now) - t0) / 1000000 ))
kill "$sd_pid"; wait "$sd_pid" 2>/dev/null || true

# ---- 6. unlock of a hub of the biggest size: how soon it serves (bench_unlock) ----
# A passphrase hub (Argon2id at its minimum limits, timed apart), unlocked through the
# socket twice: alone, and then with 64 puts in flight beside gets one at a time while
# the mirror builds. The figure is the worse of the two first gets after the unlock reply.
echo "unlock of a hub of $big credentials ..."
"$unlock" "$build" "$big" 4 "$tmp/hub-unlock" > "$out/unlock.txt"
# One pass over its report: the worse first get and unlock round trip, Argon2id alone, the
# build's time alone, and of the per-second gets beside 64 puts (the first seconds overlap
# the build) the worst p99 and max; the last field counts the unlocks reported.
read -r first_get_ms unlock_rt_ms argon_ms build_ms build_p99_ms build_max_ms unlocks < <(awk '
  function max(a, b) { return a + 0 > b + 0 ? a + 0 : b + 0 }
  /^unlock round trip/ { rt = max(rt, $4); fg = max(fg, $9); n++ }
  /^Argon2id/ { argon = $(NF - 1) + 0 }
  /record mirror built in/ { built = $(NF - 1) + 0 }
  $1 == "second" { p99 = max(p99, $9); mx = max(mx, $12) }
  END { print fg + 0, rt + 0, argon + 0, built + 0, p99 + 0, mx + 0, n + 0 }' "$out/unlock.txt")
[ "$unlocks" = 2 ] || { echo "bench_unlock did not report both unlocks (see $out/unlock.txt)" >&2; exit 1; }

# ---- the table ----
verdict() { awk -v r="$1" -v t="$2" -v dir="$3" 'BEGIN { if (r == "-") { print "-"; exit }
  ok = dir == "ge" ? r >= t : r <= t; print ok ? "met" : "MISSED" }'; }
row() { printf "%-50s %16s %8s %8s  %s\n" "$@"; }
fig() { printf '%s req/s, p50 %s p99 %s us, %s us CPU/req' "${R[$1]}" "${P50[$1]}" "${P99[$1]}" "${SRV[$1]}"; }
echo
echo "figures (medians of $rounds rounds; gets uniform over all N, every reply checked; CPU = server's):"
for shape in $shapes; do row "floor echo $shape" "" "" "" "$(fig "floor_$shape")"; done
for n in $sizes; do
  for shape in $shapes; do
    row "sekretsd get $n $shape, just populated" "" "" "" "$(fig "get_${n}_$shape")"
    row "redis GET $n $shape" "" "" "" "$(fig "redis_get_${n}_$shape")"
  done
  for shape in 1 d64; do row "sekretsd get $n $shape, after a restart" "" "" "" "$(fig "rget_${n}_$shape")"; done
  row "VmRSS $n (KiB): populated / +gets / restarted; redis" "" "" "" \
    "${RSS_POP[$n]} / ${RSS_FRESH[$n]} (anon ${ANON_FRESH[$n]}) / ${RSS_RST[$n]} (anon ${ANON_RST[$n]}); redis ${RRSS[$n]}"
  row "hub $n: populate s, start ms, data bytes/credential" "" "" "" "${POP_S[$n]} s, ${START[$n]} ms, $(( BYTES[$n] / n )) B"
done
for shape in 1 d64 c8; do
  row "put $shape / redis SET appendfsync always $shape" "" "" "" "$(fig "put_$shape") / $(fig "redis_set_$shape")"
done
row "getDb of 1,000 names" "" "" "" "$(fig getdb_1000)"
row "get 1 client beside 64 puts in flight, $big" "" "" "" "$(fig get_beside_puts), max ${MAX[get_beside_puts]} us (last round)"
row "  the puts beside it" "" "" "" "$(fig get_beside_puts_puts)"
echo
printf "%-50s %16s %8s %8s  %s\n" "target" "figures" "ratio" "target" ""
printf -- "-%.0s" $(seq 96); echo
for n in $sizes; do
  r=$(ratio "${SRV[get_${n}_d64]}" "${SRV[redis_get_${n}_d64]}")
  row "$n: server CPU/get 64 in flight / redis" "${SRV[get_${n}_d64]}/${SRV[redis_get_${n}_d64]} us" "$r" "<=1.0" "$(verdict "$r" 1.0 le)"
  r=$(ratio "${P99[get_${n}_1]}" "${P99[floor_1]}")
  row "$n: 1 client sync p99 / floor p99" "${P99[get_${n}_1]}/${P99[floor_1]} us" "$r" "<=2.0" "$(verdict "$r" 2.0 le)"
  r=$(ratio "${R[get_${n}_d64]}" "${R[redis_get_${n}_d64]}")
  row "$n: 64 in flight req/s / redis" "${R[get_${n}_d64]}/${R[redis_get_${n}_d64]}" "$r" ">=1.0" "$(verdict "$r" 1.0 ge)"
  r=$(ratio "${RSS_FRESH[$n]}" "${RRSS[$n]}")
  row "$n: VmRSS after populate+gets / redis (KiB)" "${RSS_FRESH[$n]}/${RRSS[$n]}" "$r" "<=1.0" "$(verdict "$r" 1.0 le)"
  # Right after the last put's reply, before the quiet second after writes that trims
  # LMDB's map and its dirty pages (store_trim): the same target, read at that moment.
  r=$(ratio "${RSS_POP[$n]}" "${RRSS[$n]}")
  row "$n: VmRSS right after the puts / redis (KiB)" "${RSS_POP[$n]}/${RRSS[$n]}" "$r" "<=1.0" "$(verdict "$r" 1.0 le)"
done
if [ "$big" != "$s1" ]; then
  r=$(median $PAIRS)
  row "get p50 at $big / at $s1 (1 client, pairs)" "" "$r" "<=1.3" "$(verdict "$r" 1.3 le) (rounds: ${PAIRS% })"
  r=$(median $CPUPAIRS)
  row "server CPU/get at $big / at $s1 (64 in flight)" "" "$r" "<=1.5" "$(verdict "$r" 1.5 le) (rounds: ${CPUPAIRS% })"
fi
r=$(ratio "${R[put_d64]}" "${R[redis_set_d64]}")
row "put 64 in flight / redis SET appendfsync always" "${R[put_d64]}/${R[redis_set_d64]}" "$r" ">=1.0" "$(verdict "$r" 1.0 ge)"
r=$(ratio "${P99[get_beside_puts]}" 1000)
row "$big: get p99 beside 64 puts in flight (ms)" "${P99[get_beside_puts]} us" "$r" "<=5" "$(verdict "$r" 5 le)"
r=$(ratio "${R[get_${s1}_1]}" "${R[floor_1]}")
row "get 1 client sync / floor ($s1)" "${R[get_${s1}_1]}/${R[floor_1]}" "$r" ">=0.85" "$(verdict "$r" 0.85 ge)"
cli_net=$((cli_us - true_us)) pass_net=$((pass_us - true_us)) git_net=$((git_us - true_us)) min_net=$((min_us - true_us))
r=$(ratio "$pass_net" "$cli_net"); row "pass show / sekrets-cli get (per process)" "$pass_net/$cli_net us" "$r" ">=10" "$(verdict "$r" 10 ge)"
r=$(ratio "$git_net" "$cli_net");  row "git credential fill / sekrets-cli get" "$git_net/$cli_net us" "$r" ">1.0" "$(verdict "$r" 1.0001 ge)"
r=$(ratio "$cli_us" "$min_us");    row "sekrets-cli get / minimal C client (process)" "$cli_us/$min_us us" "$r" "<=1.5" "$(verdict "$r" 1.5 le)"
row "per process above /bin/true ($true_us us): ssh-add -l" "$((ssh_us - true_us)) us" "" "" ""
row "unlock at default Argon2id limits (ms)" "$unlock_ms" "" "" "MODERATE: 256 MiB, 3 passes"
r=$(ratio "$first_get_ms" 1)
row "$big: first get after the unlock reply (ms)" "$first_get_ms ms" "$r" "<=50" \
  "$(verdict "$r" 50 le) (unlock round trip up to $unlock_rt_ms ms; Argon2id alone $argon_ms ms)"
r=$(ratio "$build_p99_ms" 1)
row "$big: get p99 beside 64 puts, mirror building (ms)" "$build_p99_ms ms" "$r" "<=5" \
  "$(verdict "$r" 5 le) (worst second of 4 after the unlock; max $build_max_ms ms; built alone in $build_ms ms)"
{
  echo "start_ms,$(for n in $sizes; do printf '%s ' "${START[$n]}"; done)"
  echo "per_process_us,cli=$cli_net,minimal=$min_net,git=$git_net,pass=$pass_net"
  echo "redis_rss_kib,$(for n in $sizes; do printf '%s ' "${RRSS[$n]}"; done)"
  echo "unlock_ms,$unlock_ms"
  echo "first_get_after_unlock_ms,$first_get_ms"
  echo "get_p99_while_building_ms,$build_p99_ms"
} >> "$out/extra.txt"

# latency plot: p50 and p99 per shape, medians of the rounds
if command -v gnuplot >/dev/null; then
  "$top/bench/plot.sh" "$csv" "$out/latency.png"
  echo "plot: $out/latency.png"
fi
echo "csv: $csv"
