#!/usr/bin/env bash
# The benchmark: sekretsd side by side with the raw Unix-socket floor, Redis 7, and the
# per-process look-ups people use today. Prints one table of figures and ratios against
# their targets, and writes results.csv and latency.png to BUILD_DIR/bench-out/.
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
for b in "$daemon" "$cli" "$wire" "$minimal" "$spawn"; do [ -x "$b" ] || { echo "missing $b" >&2; exit 1; }; done

tmp=$(mktemp -d /tmp/sekrets-bench.XXXXXX)
chmod 700 "$tmp"
mkdir -p "$out"
echo "what,clients,depth,req_per_s,p50_us,p99_us,errors" > "$csv"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${SSH_AGENT_PID:-}" ] && kill "$SSH_AGENT_PID" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# ---- helpers ----
declare -A R P50 P99   # results by key
# wire KEY ARGS...: one bench_wire run; stores req/s, p50, p99 under KEY.
wire_run() {
  local key=$1; shift
  "$wire" --seconds "$secs" --label "$key" --csv "$csv" "$@" >/dev/null
  IFS=, read -r _ _ _ R[$key] P50[$key] P99[$key] _ < <(tail -1 "$csv")
}
# redis_run KEY SOCKET TEST CLIENTS PIPELINE N
redis_run() {
  local key=$1 sock=$2 test=$3 c=$4 p=$5 n=$6 line
  line=$(redis-benchmark -s "$sock" -t "$test" -d 64 -c "$c" -P "$p" -n "$n" -r 100000 --csv 2>/dev/null | tail -1)
  # "GET","rps","avg_ms","min_ms","p50_ms","p95_ms","p99_ms","max_ms"
  IFS=, read -r _ rps _ _ p50 _ p99 _ <<<"$(tr -d '"' <<<"$line")"
  R[$key]=${rps%.*}
  P50[$key]=$(awk -v v="$p50" 'BEGIN {printf "%.1f", v * 1000}')
  P99[$key]=$(awk -v v="$p99" 'BEGIN {printf "%.1f", v * 1000}')
  echo "$key,$c,$p,${R[$key]},${P50[$key]},${P99[$key]},0" >> "$csv"
}
# median of the values given
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }
# best-of-rounds: run a measurement ROUNDS times, interleaved with its peers, keep the median
rounds=${BENCH_ROUNDS:-3}
declare -A RS P50S P99S
keep() { RS[$1]+="${R[$1]} "; P50S[$1]+="${P50[$1]} "; P99S[$1]+="${P99[$1]} "; }
settle() { # replace each kept key's figures by their medians
  local k
  for k in "${!RS[@]}"; do
    R[$k]=$(median ${RS[$k]}); P50[$k]=$(median ${P50S[$k]}); P99[$k]=$(median ${P99S[$k]})
  done
}
wait_ping() { for _ in $(seq 400); do SEKRETS_SOCKET=$1 "$cli" ping >/dev/null 2>&1 && return 0; sleep 0.05; done; return 1; }
ms_now() { date +%s%N; }
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }
anon_kb() { awk '/^RssAnon/ {print $2}' "/proc/$1/status"; }

head -c 32 /dev/urandom > "$tmp/keyfile"
chmod 600 "$tmp/keyfile"
mkdir -m 700 "$tmp/run"
declare -A SD_PID SD_SOCK RSS ANON START BYTES
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

echo "sekrets benchmark: $secs s per run, median of $rounds interleaved rounds, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"

# ---- hubs: 1k / 100k / 1M credentials over 100 protocols, one daemon each ----
s1=$(echo "$sizes" | awk '{print $1}')
big=$(echo "$sizes" | awk '{print $NF}')
for n in $sizes; do
  echo "populating a hub of $n credentials ..."
  start_sekretsd "h$n" "$tmp/hub-$n"
  "$wire" --socket "${SD_SOCK[h$n]}" --populate "$n" --protocols 100 >/dev/null
  stop_sekretsd "h$n"
  start_sekretsd "h$n" "$tmp/hub-$n"     # restarted: start time on a populated hub
  START[$n]=$start_ms
  BYTES[$n]=$(stat -c %s "$tmp/hub-$n/data.mdb")
done
# getDb of a 1,000-name protocol on the smallest hub
for i in $(seq 0 999); do
  printf '{"id": %d, "op": "put", "protocol": "db1000", "name": "user%d", "body": {"password": "x"}}\n' "$i" "$i"
done | while read -r req; do SEKRETS_SOCKET=${SD_SOCK[h$s1]} "$cli" call "$req" >/dev/null; done

# ---- Redis 7 on a Unix socket: no persistence for GET, appendfsync always for SET ----
mkdir -p "$tmp/redis" "$tmp/redis-aof"
redis-server --port 0 --unixsocket "$tmp/redis.sock" --unixsocketperm 700 --save '' \
  --appendonly no --dir "$tmp/redis" --daemonize no >/dev/null &
pids+=($!)
redis-server --port 0 --unixsocket "$tmp/redis-aof.sock" --unixsocketperm 700 --save '' \
  --appendonly yes --appendfsync always --dir "$tmp/redis-aof" --daemonize no >/dev/null &
pids+=($!)
for _ in $(seq 100); do redis-cli -s "$tmp/redis.sock" ping >/dev/null 2>&1 && redis-cli -s "$tmp/redis-aof.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-benchmark -s "$tmp/redis.sock" -t set -d 64 -n 200000 -r 100000 -P 64 -q >/dev/null

# ---- the rounds: floor, sekretsd and redis interleaved, shape by shape ----
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
BIGRATIOS="" # per round: p50 of a get at the biggest hub / at the smallest, measured back to back
sock1=${SD_SOCK[h$s1]}
for round in $(seq "$rounds"); do
  echo "round $round/$rounds ..."
  wire_run floor_1 --echo;                      keep floor_1
  wire_run "get_${s1}_1" --socket "$sock1" --names "$s1"; keep "get_${s1}_1"
  if [ "$big" != "$s1" ]; then # right after the small hub: the ratio of the pair is the figure
    p50_small=${P50[get_${s1}_1]}
    wire_run "get_${big}_1" --socket "${SD_SOCK[h$big]}" --names "$big"; keep "get_${big}_1"
    BIGRATIOS+="$(ratio "${P50[get_${big}_1]}" "$p50_small") "
  fi
  redis_run redis_get_1 "$tmp/redis.sock" get 1 1 60000; keep redis_get_1
  wire_run floor_d64 --echo --depth 64;         keep floor_d64
  wire_run "get_${s1}_d64" --socket "$sock1" --names "$s1" --depth 64; keep "get_${s1}_d64"
  redis_run redis_get_d64 "$tmp/redis.sock" get 1 64 2000000; keep redis_get_d64
  wire_run floor_c8 --echo --clients 8;         keep floor_c8
  wire_run "get_${s1}_c8" --socket "$sock1" --names "$s1" --clients 8; keep "get_${s1}_c8"
  redis_run redis_get_c8 "$tmp/redis.sock" get 8 1 200000; keep redis_get_c8
  wire_run floor_c64 --echo --clients 64;       keep floor_c64
  wire_run "get_${s1}_c64" --socket "$sock1" --names "$s1" --clients 64; keep "get_${s1}_c64"
  redis_run redis_get_c64 "$tmp/redis.sock" get 64 1 300000; keep redis_get_c64
  wire_run put_1 --socket "$sock1" --op put --names "$s1"; keep put_1
  redis_run redis_set_1 "$tmp/redis-aof.sock" set 1 1 2000; keep redis_set_1
  wire_run put_d64 --socket "$sock1" --op put --names "$s1" --depth 64; keep put_d64
  redis_run redis_set_d64 "$tmp/redis-aof.sock" set 1 64 100000; keep redis_set_d64
  wire_run put_c8 --socket "$sock1" --op put --names "$s1" --clients 8; keep put_c8
  redis_run redis_set_c8 "$tmp/redis-aof.sock" set 8 1 20000; keep redis_set_c8
  wire_run getdb_1000 --socket "$sock1" --op getdb; keep getdb_1000
  for n in $sizes; do
    [ "$n" = "$s1" ] && continue
    for shape in 1 d64 c8 c64; do
      [ "$n" = "$big" ] && [ "$shape" = 1 ] && continue # measured beside the small hub
      case $shape in 1) a=() ;; d64) a=(--depth 64) ;; c8) a=(--clients 8) ;; c64) a=(--clients 64) ;; esac
      wire_run "get_${n}_$shape" --socket "${SD_SOCK[h$n]}" --names "$n" "${a[@]}"; keep "get_${n}_$shape"
    done
  done
done
settle
for n in $sizes; do
  RSS[$n]=$(rss_kb "${SD_PID[h$n]}")
  ANON[$n]=$(anon_kb "${SD_PID[h$n]}")
  stop_sekretsd "h$n"
done

# redis memory for the same data as the largest hub: that many 64-byte values
redis-cli -s "$tmp/redis.sock" flushall >/dev/null
awk -v n="$big" 'BEGIN { v = sprintf("%64s", ""); gsub(/ /, "x", v);
  for (i = 0; i < n; i++) { k = "p" (i % 100) ":user" i;
    printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$64\r\n%s\r\n", length(k), k, v } }' \
  | redis-cli -s "$tmp/redis.sock" --pipe >/dev/null
redis_rss=$(( $(redis-cli -s "$tmp/redis.sock" info memory | awk -F: '/^used_memory_rss:/ {print $2}' | tr -d '\r') / 1024 ))

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
printf 'bench passphrase' > "$tmp/pass"
SEKRETS_SOCKET=$sd_sock "$cli" init --passphrase-file "$tmp/pass" >/dev/null
SEKRETS_SOCKET=$sd_sock "$cli" lock >/dev/null
t0=$(ms_now)
SEKRETS_SOCKET=$sd_sock "$cli" unlock --passphrase-file "$tmp/pass" >/dev/null
unlock_ms=$(( ($(ms_now) - t0) / 1000000 ))
kill "$sd_pid"; wait "$sd_pid" 2>/dev/null || true

# ---- the table ----
verdict() { awk -v r="$1" -v t="$2" -v dir="$3" 'BEGIN { ok = dir == "ge" ? r >= t : r <= t; print ok ? "met" : "MISSED" }'; }
row() { printf "%-46s %12s %10s %8s  %s\n" "$@"; }
s1=$(echo "$sizes" | awk '{print $1}')
echo
printf "%-46s %12s %10s %8s  %s\n" "measure" "value" "ratio" "target" ""
printf -- "-%.0s" $(seq 90); echo
for shape in 1 d64 c8 c64; do
  row "floor echo $shape (req/s, p50 us)" "${R[floor_$shape]}" "${P50[floor_$shape]}" "" ""
done
for n in $sizes; do
  for shape in 1 d64 c8 c64; do
    row "sekretsd get $n $shape (req/s)" "${R[get_${n}_$shape]}" "" "" "p50 ${P50[get_${n}_$shape]} us, p99 ${P99[get_${n}_$shape]} us"
  done
done
for shape in 1 d64 c8 c64; do
  row "redis GET $shape (req/s)" "${R[redis_get_$shape]}" "" "" "p50 ${P50[redis_get_$shape]} us, p99 ${P99[redis_get_$shape]} us"
done
echo
r=$(ratio "${R[get_${s1}_1]}" "${R[floor_1]}");   row "get 1 client sync / floor" "" "$r" ">=0.85" "$(verdict "$r" 0.85 ge)"
r=$(ratio "${R[get_${s1}_1]}" "${R[redis_get_1]}"); row "get 1 client sync / redis GET" "" "$r" ">=1.0" "$(verdict "$r" 1.0 ge)"
r=$(ratio "${R[get_${s1}_d64]}" "${R[redis_get_d64]}"); row "get 64 in flight / redis GET -P 64" "" "$r" ">=1.0" "$(verdict "$r" 1.0 ge)"
r=$(ratio "${R[get_${s1}_c8]}" "${R[redis_get_c8]}"); row "get 8 clients / redis GET -c 8" "" "$r" ">=1.0" "$(verdict "$r" 1.0 ge)"
r=$(ratio "${R[put_d64]}" "${R[redis_set_d64]}"); row "put 64 in flight / redis SET fsync always" "" "$r" ">=1.0" "$(verdict "$r" 1.0 ge)"
row "  (put 1 sync / redis SET 1 sync)" "" "$(ratio "${R[put_1]}" "${R[redis_set_1]}")" "" "${R[put_1]} vs ${R[redis_set_1]} req/s"
r=$(ratio "${P99[get_${s1}_1]}" "${P99[floor_1]}"); row "p99 at 1 client / floor p99" "" "$r" "<=2.0" "$(verdict "$r" 2.0 le)"
if [ "$big" != "$s1" ]; then
  r=$(median $BIGRATIOS); row "get p50 at $big / at $s1" "" "$r" "<=1.3" "$(verdict "$r" 1.3 le) (per round: ${BIGRATIOS% })"
fi
r=$(ratio "${RSS[$big]}" "$redis_rss"); row "RSS serving $big: sekretsd / redis (KiB)" "${RSS[$big]}/$redis_rss" "$r" "<1.0" "$(verdict "$r" 0.999 le)"
row "  sekretsd anonymous memory at $big (KiB)" "${ANON[$big]}" "$(ratio "${ANON[$big]}" "$redis_rss")" "" "(the record mirror; the rest is mapped hub file)"
cli_net=$((cli_us - true_us)) pass_net=$((pass_us - true_us)) git_net=$((git_us - true_us)) min_net=$((min_us - true_us))
row "per process (median of $runs), above /bin/true ($true_us us):" "" "" "" ""
row "  sekrets-cli get -f password (us)" "$cli_net" "" "" ""
row "  minimal C client process (us)" "$min_net" "" "" ""
row "  git credential fill, cache (us)" "$git_net" "" "" ""
row "  pass show (us)" "$pass_net" "" "" ""
row "  ssh-add -l against ssh-agent (us)" "$((ssh_us - true_us))" "" "" ""
r=$(ratio "$pass_net" "$cli_net"); row "pass show / sekrets-cli get" "" "$r" ">=10" "$(verdict "$r" 10 ge)"
r=$(ratio "$git_net" "$cli_net");  row "git credential fill / sekrets-cli get" "" "$r" ">1.0" "$(verdict "$r" 1.0001 ge)"
r=$(ratio "$cli_us" "$min_us");    row "sekrets-cli get / minimal C client (whole process)" "" "$r" "<=1.5" "$(verdict "$r" 1.5 le)"
row "getDb of 1,000 names (req/s)" "${R[getdb_1000]}" "" "" "p50 ${P50[getdb_1000]} us"
row "put 1 sync / 64 in flight / 8 clients (req/s)" "${R[put_1]}/${R[put_d64]}/${R[put_c8]}" "" "" ""
for n in $sizes; do
  row "hub $n: start ms, data bytes/credential" "${START[$n]}" "$(( BYTES[$n] / n ))" "" "RSS ${RSS[$n]} KiB, anon ${ANON[$n]} KiB"
done
row "unlock at default Argon2id limits (ms)" "$unlock_ms" "" "" "MODERATE: 256 MiB, 3 passes"
{
  echo "start_ms,$(for n in $sizes; do printf '%s ' "${START[$n]}"; done)"
  echo "per_process_us,cli=$cli_net,minimal=$min_net,git=$git_net,pass=$pass_net"
  echo "redis_rss_kib,$redis_rss"
  echo "unlock_ms,$unlock_ms"
} >> "$out/extra.txt"

# latency plot: p50 and p99 per shape, medians of the rounds
if command -v gnuplot >/dev/null; then
  "$top/bench/plot.sh" "$csv" "$out/latency.png"
  echo "plot: $out/latency.png"
fi
echo "csv: $csv"
