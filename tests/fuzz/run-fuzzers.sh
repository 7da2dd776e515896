#!/bin/sh
# Runs every libFuzzer target for SECONDS each and prints one line per target:
#   <target> execs=<n> exec/s=<n> crashes=<n> [<crash files>]
# Exits 1 if any target crashed (or did not run), 2 on usage.
#
#   tests/fuzz/run-fuzzers.sh SECONDS [BUILD_DIR]
#
# FUZZ_JOBS (default 1) targets run at a time, each for SECONDS (CI runs one per core);
# the lines come out in the targets' order all the same.
# BUILD_DIR (default build-fuzz) is a clang build with -Dfuzzing=enabled; it is set up
# when missing:
#   CC=clang meson setup build-fuzz -Dfuzzing=enabled -Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false
# Each target works on a temporary copy of its committed corpus, so the committed corpus
# only changes on purpose: copy a crash file there (as regress_<what>) once it is fixed.
# Crash files are kept in $FUZZ_OUT (default: a new folder under ${TMPDIR:-/tmp}).
set -eu

usage() { echo "usage: $0 SECONDS [BUILD_DIR]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
secs=$1
case $secs in '' | *[!0-9]*) usage ;; esac
[ "$secs" -ge 1 ] || usage
jobs=${FUZZ_JOBS:-1}
case $jobs in '' | *[!0-9]* | 0) echo "$0: FUZZ_JOBS must be a count >= 1" >&2; exit 2 ;; esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${2:-$root/build-fuzz}
case $build in /*) ;; *) build=$(pwd)/$build ;; esac

if [ ! -f "$build/build.ninja" ]; then
    CC=clang meson setup "$build" "$root" -Dfuzzing=enabled \
        -Db_sanitize=address,undefined -Db_lundef=false -Db_lto=false >&2 # clang's LTO needs its own linker plugin
fi
grep -q 'fuzzing=enabled\|-fsanitize=fuzzer' "$build/build.ninja" ||
    { echo "$0: $build is not a -Dfuzzing=enabled build" >&2; exit 2; }
ninja -C "$build" >&2

out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/sekrets-fuzz.XXXXXX")}
mkdir -p "$out"
# One target: its line into $out/<target>/line (a clean run's ends in crashes=0).
fuzz_one() {
    corpus=$1
    t=$(basename "$corpus")
    exe=$build/tests/fuzz/fuzz_$t
    mkdir -p "$out/$t"
    rm -f "$out/$t/line"
    if [ ! -x "$exe" ]; then
        echo "fuzz_$t: not built in $build" >"$out/$t/line"
        return
    fi
    work=$out/$t/corpus
    art=$out/$t/crashes
    rm -rf "$work" "$art"
    mkdir -p "$work" "$art"
    cp "$corpus"* "$work"/
    # ASan/UBSan stop at the first error; libFuzzer writes the input to $art.
    rc=0
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} \
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
        "$exe" -max_total_time="$secs" -print_final_stats=1 -timeout=25 \
        -rss_limit_mb=2048 -artifact_prefix="$art/" "$work" \
        >"$out/$t/log" 2>&1 || rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$t/log" | tail -n 1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$out/$t/log" | tail -n 1)
    crashes=$(find "$art" -type f | sort)
    ncrash=$(printf '%s' "$crashes" | grep -c . || true)
    if [ "$rc" -ne 0 ] && [ "$ncrash" -eq 0 ]; then
        ncrash=1 # died without an artifact: the log says why
        crashes="(no artifact; see $out/$t/log)"
    fi
    line="fuzz_$t execs=${execs:-0} exec/s=${speed:-0} crashes=$ncrash"
    if [ "$ncrash" -gt 0 ]; then
        line="$line $(echo $crashes) log=$out/$t/log"
    fi
    echo "$line" >"$out/$t/line"
}

running=0
for corpus in "$here"/corpus/*/; do
    fuzz_one "$corpus" &
    running=$((running + 1))
    if [ "$running" -ge "$jobs" ]; then
        wait
        running=0
    fi
done
wait
failed=0
for corpus in "$here"/corpus/*/; do
    t=$(basename "$corpus")
    line=$(cat "$out/$t/line" 2>/dev/null || echo "fuzz_$t: did not report")
    echo "$line"
    case $line in *" crashes=0") ;; *) failed=1 ;; esac
done
exit $failed
