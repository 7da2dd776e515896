#!/bin/bash
# tests/client/consumer_test.sh BUILD_ROOT CONSUMER_C - installs the project into a
# temporary DESTDIR, builds a consumer with nothing but `pkg-config sekrets` from there, runs
# it against a real daemon, and checks the exported symbols and the soname.
set -eu
: "${SEKRETSD:?}"
BUILD=$1 SRC=$2
T=$(mktemp -d /tmp/skr-consumer.XXXXXX)
chmod 700 "$T"
DPID=
trap '[ -n "$DPID" ] && kill $DPID 2>/dev/null; rm -rf "$T"' EXIT
meson install -C "$BUILD" --destdir "$T/dest" --no-rebuild --quiet >/dev/null
PC=$(find "$T/dest" -name sekrets.pc | head -1)
[ -n "$PC" ] || { echo "sekrets.pc not installed"; exit 1; }
export PKG_CONFIG_PATH=$(dirname "$PC") PKG_CONFIG_SYSROOT_DIR="$T/dest"
# ${CONSUMER_CFLAGS}: the build's sanitizer flags, so a sanitized libsekrets links
cc -std=c11 -Wall -Werror ${CONSUMER_CFLAGS:-} -o "$T/consumer" "$SRC" $(pkg-config --cflags --libs sekrets)
SO=$(find "$T/dest" -name 'libsekrets.so.0' | head -1)
[ "$(readelf -d "$SO" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" = libsekrets.so.0 ] || { echo "bad soname"; exit 1; }
BAD=$(nm -D --defined-only "$SO" | awk '{print $3}' | grep -v '^skr_' || true)
[ -z "$BAD" ] || { echo "exported beyond skr_: $BAD"; exit 1; }
mkdir -m 700 "$T/run" "$T/hub"
head -c 32 /dev/urandom > "$T/key"; chmod 600 "$T/key"
"$SEKRETSD" --foreground --socket "$T/run/s.sock" --hub "$T/hub" --keyfile "$T/key" 2>"$T/log" &
DPID=$!
for _ in $(seq 100); do [ -S "$T/run/s.sock" ] && break; sleep 0.05; done
sleep 0.1
OUT=$(LD_LIBRARY_PATH=$(dirname "$SO") "$T/consumer" "$T/run/s.sock")
[ "$OUT" = "0.1.0 pw not_found" ] || { echo "consumer printed [$OUT]"; exit 1; }
echo "consumer ok"
