#!/bin/bash
# tests/client/measure_latency.sh SEKRETSD SEKRETS_CLI [RUNS] - per-process latency of
# `sekrets-cli get NAME -p P -f password` beside `git credential fill` through git's
# credential cache, each minus a loop of /bin/true. Not part of `meson test`.
set -eu
D=$1 C=$2 N=${3:-200}
T=$(mktemp -d /tmp/skr-bench.XXXXXX); chmod 700 "$T"; mkdir -m 700 "$T/run" "$T/hub"
head -c 32 /dev/urandom > "$T/key"; chmod 600 "$T/key"
"$D" --foreground --socket "$T/run/s.sock" --hub "$T/hub" --keyfile "$T/key" --log-level error 2>/dev/null &
DPID=$!
trap 'kill $DPID; git credential-cache --socket "$T/gcc" exit 2>/dev/null || true; rm -rf "$T"' EXIT
export SEKRETS_SOCKET=$T/run/s.sock
for _ in $(seq 100); do "$C" ping >/dev/null 2>&1 && break; sleep 0.05; done
echo '{"user":"bob","password":"hunter2"}' | "$C" post https bob
# Each run timed alone (bash's $EPOCHREALTIME, no fork); the minimum and the median are
# robust to other load on the machine, the mean is not.
us() { local t=${EPOCHREALTIME/[.,]/}; echo "$t"; }
loop() {
    local t0 t1 i
    for ((i = 0; i < N; i++)); do
        t0=${EPOCHREALTIME/[.,]/}; "$@" >/dev/null; t1=${EPOCHREALTIME/[.,]/}
        echo $((t1 - t0))
    done | sort -n | awk '{a[NR]=$1} END {printf "%d %d\n", a[1], a[int((NR+1)/2)]}'
}
GIT=(git -c credential.helper= -c "credential.helper=cache --socket $T/gcc --timeout 600")
printf 'protocol=https\nhost=example.com\nusername=bob\npassword=hunter2\n\n' | "${GIT[@]}" credential approve
gitfill() { printf 'protocol=https\nhost=example.com\nusername=bob\n\n' | "${GIT[@]}" credential fill; }
[ "$(gitfill | grep password)" = "password=hunter2" ]
[ "$("$C" get bob -p https -f password)" = "hunter2" ]
read -r base_min base_med < <(loop /bin/true)
read -r skr_min skr_med < <(loop "$C" get bob -p https -f password)
read -r git_min git_med < <(loop gitfill)
read -r sh_min sh_med < <(loop sh -c 'printf x | cat >/dev/null')
echo "runs: $N each (microseconds: min / median)"
echo "/bin/true                    $base_min / $base_med"
echo "sekrets-cli get -f password  $skr_min / $skr_med   above /bin/true: $((skr_min - base_min)) / $((skr_med - base_med))"
echo "git credential fill (cache)  $git_min / $git_med   above /bin/true: $((git_min - base_min)) / $((git_med - base_med))"
echo "  (a printf | cat pipeline in sh alone: $sh_min / $sh_med)"
