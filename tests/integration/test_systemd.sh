#!/usr/bin/env bash
# systemd units, socket activation and `meson install`, checked for real:
#  1. the generated units pass `systemd-analyze verify` (system and user mode) silently;
#  2. systemd-socket-activate hands sekretsd a listening socket: it serves a get on it,
#     logs that socket's address, needs no socket path of its own, and sends READY=1 to
#     $NOTIFY_SOCKET (a datagram socket this test listens on);
#  3. `meson install --destdir` installs every expected file, and a program compiled only
#     against that destdir's header and sekrets.pc links and talks to a daemon.
# Usage: test_systemd.sh BUILD_ROOT   (env: SEKRETSD, SEKRETS_CLI)
set -euo pipefail
build=$1
: "${SEKRETSD:?}" "${SEKRETS_CLI:?}"
tmp=$(mktemp -d /tmp/skr-systemd.XXXXXX)
chmod 700 "$tmp"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fails=$((fails + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

. "$(dirname "$0")/../wait_ping.sh"

# ---- 1 + 3: install into a destdir ----
dest=$tmp/dest
meson install -C "$build" --destdir "$dest" --no-rebuild --quiet >/dev/null
prefix=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="prefix"))')
libdir=$(meson introspect "$build" --buildoptions | /usr/bin/python3 -c \
  'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"]=="libdir"))')
root=$dest$prefix
case $libdir in /*) lib=$dest$libdir ;; *) lib=$root/$libdir ;; esac
unitdir=$(find "$dest" -name sekretsd.service -printf '%h\n' | head -1)
expected=(
  "$root/bin/sekretsd" "$root/bin/sekrets-cli"
  "$root/include/sekrets/sekrets.h" "$root/include/sekrets/error.h"
  "$lib/libsekrets.so" "$lib/libsekrets.so.0" "$lib/libsekrets.a" "$lib/pkgconfig/sekrets.pc"
  "$unitdir/sekretsd.service" "$unitdir/sekretsd.socket" "$unitdir/sekretsd-creds.socket"
  "$root/share/man/man8/sekretsd.8" "$root/share/man/man1/sekrets-cli.1"
  "$root/share/man/man3/libsekrets.3"
  "$root/share/bash-completion/completions/sekrets-cli"
)
missing=0
for f in "${expected[@]}"; do
  [ -e "$f" ] || { echo "# missing after install: $f"; missing=1; }
done
check "meson install --destdir installs every expected file" test "$missing" -eq 0

# The installed units name $prefix/bin/sekretsd, which exists only under the destdir:
# verify copies whose ExecStart points there (the only line changed).
mkdir -p "$tmp/units" "$tmp/xdg"
chmod 700 "$tmp/xdg"
sed "s|$prefix/bin/sekretsd|$root/bin/sekretsd|g" "$unitdir/sekretsd.service" > "$tmp/units/sekretsd.service"
cp "$unitdir/sekretsd.socket" "$tmp/units/"
grep -q "^ExecStart=$prefix/bin/sekretsd --foreground" "$unitdir/sekretsd.service" \
  && ok "ExecStart names the installed binary" || not_ok "ExecStart names the installed binary"
out=$(systemd-analyze verify --man=no "$tmp/units/sekretsd.socket" "$tmp/units/sekretsd.service" 2>&1) \
  && [ -z "$out" ] && ok "systemd-analyze verify (system mode): no warnings" \
  || { echo "$out" | sed 's/^/# /'; not_ok "systemd-analyze verify (system mode)"; }
out=$(XDG_RUNTIME_DIR=$tmp/xdg systemd-analyze --user verify --man=no "$tmp/units/sekretsd.socket" \
      "$tmp/units/sekretsd.service" 2>&1) && [ -z "$out" ] \
  && ok "systemd-analyze --user verify: no warnings" \
  || { echo "$out" | sed 's/^/# /'; not_ok "systemd-analyze --user verify"; }

# ---- 2: socket activation and READY=1 ----
head -c 32 /dev/urandom > "$tmp/keyfile"
chmod 600 "$tmp/keyfile"
mkdir -m 700 "$tmp/run"
/usr/bin/python3 - "$tmp/notify" > "$tmp/notify.out" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
s.settimeout(15)
try:
    while True:
        msg = s.recv(4096).decode()
        print(msg, flush=True)
        if "READY=1" in msg:
            break
except socket.timeout:
    pass
PY
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/notify" ] && break; sleep 0.05; done
systemd-socket-activate -l "$tmp/run/activated.sock" -E "NOTIFY_SOCKET=$tmp/notify" \
  "$SEKRETSD" --foreground --hub "$tmp/hub" --keyfile "$tmp/keyfile" \
  --socket "$tmp/run/not-used.sock" 2> "$tmp/activate.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/run/activated.sock" ] && break; sleep 0.05; done
check "socket-activated daemon answers ping" wait_ping "$tmp/run/activated.sock"
echo '{"password": "activated-pw"}' | SEKRETS_SOCKET=$tmp/run/activated.sock "$SEKRETS_CLI" put svc robot >/dev/null
got=$(SEKRETS_SOCKET=$tmp/run/activated.sock "$SEKRETS_CLI" get robot -p svc -f password)
check "get over the inherited socket" test "$got" = "activated-pw"
check "daemon did not bind its own socket" test ! -e "$tmp/run/not-used.sock"
check "the log names the inherited socket, not --socket" \
  grep -q "listening on $tmp/run/activated.sock, hub" "$tmp/activate.log"

# Socket-activated with no socket path anywhere (no --socket, SEKRETS_SOCKET or
# XDG_RUNTIME_DIR): none is needed, and the log names the inherited socket.
env -u XDG_RUNTIME_DIR -u SEKRETS_SOCKET systemd-socket-activate -l "$tmp/run/nopath.sock" \
  "$SEKRETSD" --foreground --hub "$tmp/hub2" --keyfile "$tmp/keyfile" 2> "$tmp/nopath.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/run/nopath.sock" ] && break; sleep 0.05; done
check "socket-activated daemon needs no socket path" wait_ping "$tmp/run/nopath.sock"
check "its log names the inherited socket" \
  grep -q "listening on $tmp/run/nopath.sock, hub $tmp/hub2" "$tmp/nopath.log"
for _ in $(seq 100); do grep -q READY=1 "$tmp/notify.out" && break; sleep 0.05; done
check "READY=1 sent to NOTIFY_SOCKET" grep -qx "READY=1" "$tmp/notify.out"

# ---- 3b: a consumer built from the installed header and sekrets.pc only ----
cat > "$tmp/consumer.c" <<'C'
#include <sekrets/sekrets.h>
#include <stdio.h>
int main(void)
{
    skr_client *c;
    skr_cred *cred;
    const char *pw;
    int rc = skr_connect(NULL, 2000, &c);
    if (rc != 0) { fprintf(stderr, "connect: %s\n", skr_strerror(rc)); return 1; }
    rc = skr_get(c, "robot", "svc", &cred);
    if (rc != 0) { fprintf(stderr, "get: %s\n", skr_strerror(rc)); return 1; }
    rc = skr_cred_string(cred, "password", &pw, NULL);
    if (rc == 0) printf("%s %s\n", skr_cred_protocol(cred), pw);
    skr_cred_free(cred);
    skr_client_close(c);
    return rc == 0 ? 0 : 1;
}
C
flags=$(PKG_CONFIG_PATH=$lib/pkgconfig pkg-config --define-variable=prefix="$root" --cflags --libs sekrets)
# ${CONSUMER_CFLAGS}: the build's sanitizer flags, so a sanitized libsekrets links
if cc -std=c11 -Wall -Werror ${CONSUMER_CFLAGS:-} -o "$tmp/consumer" "$tmp/consumer.c" $flags 2> "$tmp/cc.log"; then
  ok "consumer compiles and links against the installed sekrets.pc"
  got=$(SEKRETS_SOCKET=$tmp/run/activated.sock LD_LIBRARY_PATH=$lib "$tmp/consumer" 2>&1 || true)
  check "consumer talks to the daemon" test "$got" = "svc activated-pw"
  check "consumer uses the installed library" \
    sh -c "LD_LIBRARY_PATH=$lib ldd '$tmp/consumer' | grep -q '$lib/libsekrets.so.0'"
else
  sed 's/^/# /' "$tmp/cc.log"
  not_ok "consumer compiles and links against the installed sekrets.pc"
fi

echo "# $fails failed"
[ "$fails" -eq 0 ]
