#!/usr/bin/env bash
# The README's LoadCredential= example, checked for real:
#  1. the example unit, with sekretsd.service, sekretsd.socket and sekretsd-creds.socket
#     as built, passes `systemd-analyze --user verify` with no output;
#  2. sekretsd with the README's config serves that unit's credential to a client that
#     asks like systemd (abstract address, shutdown(SHUT_WR), read to EOF) from a cgroup
#     named like the unit (needs root and cgroup2: otherwise this part is skipped, said so,
#     and the test reports SKIP);
#  3. under socket activation with both sockets (systemd-socket-activate --fdname
#     sekretsd.socket:creds), the fd named "creds" is the credentials socket.
# Usage: test_creds_units.sh SOURCE_ROOT BUILD_ROOT   (env: SEKRETSD, SEKRETS_CLI)
set -euo pipefail
src=$1 build=$2
: "${SEKRETSD:?}" "${SEKRETS_CLI:?}"
tmp=$(mktemp -d /tmp/skr-creds-units.XXXXXX)
chmod 700 "$tmp"
pids=()
cg=
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$cg" ] && rmdir "$cg" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0 skipped=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fails=$((fails + 1)); }

# The ```ini block that follows the marker line $1 in the README.
readme_block() {
  awk -v m="<!-- $1 -->" '$0 == m { on = 1; next } on && /^```ini/ { inb = 1; next }
    inb && /^```/ { exit } inb { print }' "$src/README.md"
}

. "$(dirname "$0")/../wait_ping.sh"

# Asks like systemd's read_full_file_full(READ_FULL_FILE_CONNECT_SOCKET): prints what is read.
ask() { # socket unit id [cgroup-dir]
  /usr/bin/python3 - "$@" <<'PY'
import os, random, socket, sys
path, unit, cid = sys.argv[1:4]
if len(sys.argv) > 4:
    with open(os.path.join(sys.argv[4], "cgroup.procs"), "w") as f:
        f.write(str(os.getpid()))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(("\0%x/unit/%s/%s" % (random.getrandbits(64), unit, cid)).encode())
s.settimeout(10)
s.connect(path)
s.shutdown(socket.SHUT_WR)
data = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    data += b
sys.stdout.buffer.write(data)
PY
}

# ---- 1: systemd-analyze verify of the README unit beside the built units ----
mkdir -p "$tmp/units" "$tmp/xdg" "$tmp/run"
chmod 700 "$tmp/xdg" "$tmp/run"
readme_block creds-example-unit > "$tmp/units/mail-alerts.service"
readme_block creds-example-config > "$tmp/sekretsd.conf"
grep -q '^LoadCredential=smtp-password:%t/sekrets/creds.sock$' "$tmp/units/mail-alerts.service" \
  && ok "README example unit found" || not_ok "README example unit found"
cp "$build/systemd/sekretsd.socket" "$build/systemd/sekretsd-creds.socket" "$tmp/units/"
sed "s|^ExecStart=[^ ]*/sekretsd |ExecStart=$SEKRETSD |" "$build/systemd/sekretsd.service" \
  > "$tmp/units/sekretsd.service"
out=$(cd "$tmp/units" && XDG_RUNTIME_DIR=$tmp/xdg systemd-analyze --user verify --man=no \
      mail-alerts.service sekretsd-creds.socket sekretsd.socket sekretsd.service 2>&1) \
  && [ -z "$out" ] && ok "systemd-analyze --user verify of the example: no output" \
  || { echo "$out" | sed 's/^/# /'; not_ok "systemd-analyze --user verify of the example"; }

# ---- 2: the README config serves the README unit ----
head -c 32 /dev/urandom > "$tmp/keyfile"
chmod 600 "$tmp/keyfile"
"$SEKRETSD" -f --hub "$tmp/hub" --keyfile "$tmp/keyfile" --socket "$tmp/run/s.sock" \
  --config "$tmp/sekretsd.conf" --credentials-socket "$tmp/run/creds.sock" 2> "$tmp/d.log" &
pids+=($!)
if wait_ping "$tmp/run/s.sock"; then ok "sekretsd starts with the README config"
else sed 's/^/# /' "$tmp/d.log"; not_ok "sekretsd starts with the README config"; fi
echo '{"username": "alerts@example.com", "password": "pw-from-readme"}' |
  SEKRETS_SOCKET=$tmp/run/s.sock "$SEKRETS_CLI" put smtp alerts@example.com >/dev/null
unified=
for d in /sys/fs/cgroup/unified /sys/fs/cgroup; do
  [ "$(stat -f -c %T "$d" 2>/dev/null)" = cgroup2fs ] && { unified=$d; break; }
done
if [ -n "$unified" ] && [ "$(id -u)" = 0 ] && mkdir "$unified/mail-alerts.service" 2>/dev/null; then
  cg=$unified/mail-alerts.service
  got=$(ask "$tmp/run/creds.sock" mail-alerts.service smtp-password "$cg")
  [ "$got" = pw-from-readme ] && ok "the README unit gets its password" \
    || not_ok "the README unit gets its password (got '$got')"
  got=$(ask "$tmp/run/creds.sock" mail-alerts.service smtp-password)
  [ -z "$got" ] && ok "the same request from another cgroup gets nothing" \
    || not_ok "the same request from another cgroup gets nothing"
else
  echo "# SKIP: cannot create a cgroup named mail-alerts.service (root and a cgroup2 mount needed)"
  skipped=1
fi
kill "${pids[-1]}"; wait "${pids[-1]}" || true

# ---- 3: socket activation passes both sockets; "creds" is the credentials socket ----
systemd-socket-activate -l "$tmp/run/main.sock" -l "$tmp/run/act-creds.sock" \
  --fdname=sekretsd.socket:creds \
  "$SEKRETSD" --foreground --hub "$tmp/hub" --keyfile "$tmp/keyfile" --config "$tmp/sekretsd.conf" \
  --socket "$tmp/run/not-used.sock" 2> "$tmp/act.log" &
pids+=($!)
for _ in $(seq 100); do [ -S "$tmp/run/act-creds.sock" ] && break; sleep 0.05; done
wait_ping "$tmp/run/main.sock" && ok "socket-activated: the main socket answers ping" \
  || { sed 's/^/# /' "$tmp/act.log"; not_ok "socket-activated: the main socket answers ping"; }
if [ -n "$cg" ]; then
  got=$(ask "$tmp/run/act-creds.sock" mail-alerts.service smtp-password "$cg")
  [ "$got" = pw-from-readme ] && ok "socket-activated: the fd named creds serves credentials" \
    || not_ok "socket-activated: the fd named creds serves credentials (got '$got')"
fi
grep -q 'credentials socket passed by systemd' "$tmp/act.log" \
  && ok "socket-activated: the daemon says it uses the passed credentials socket" \
  || { sed 's/^/# /' "$tmp/act.log"; not_ok "socket-activated: credentials socket passed"; }
[ ! -e "$tmp/run/not-used.sock" ] && ok "socket-activated: no socket of its own" \
  || not_ok "socket-activated: no socket of its own"

echo "# $fails failed"
[ "$fails" -eq 0 ] || exit 1
[ "$skipped" -eq 0 ] || exit 77
