#!/usr/bin/env bash
# LoadCredential= against the real systemd: a private `systemd --user` manager (in its own
# mount namespace, where /run/systemd/system exists so that it agrees to start; nothing
# outside sees it) runs oneshot units whose LoadCredential= points at sekretsd's
# credentials socket. Shows what systemd itself does:
#  1. the granted unit finds the exact bytes in $CREDENTIALS_DIRECTORY, and the audit line
#     names it (the peer is systemd's "(sd-mkdcreds)" child, in the unit's cgroup);
#  2. a unit without a grant still starts, with an EMPTY credential file (systemd 252 does
#     not fail a unit for an empty read), unless it checks, as the README's
#     ExecStartPre=/usr/bin/test -s %d/ID does: then it fails;
#  3. while the hub is locked the same happens (result=locked); after an unlock it works;
#  4. the units as built (sekretsd.socket, sekretsd-creds.socket, sekretsd.service with its
#     sandbox and syscall filter; a drop-in only points it at a test hub, keyfile and
#     config) socket-activated by that manager serve the README's example unit.
# Needs root, unshare/nsenter and systemd; otherwise it says why and exits 77 (SKIP).
# Usage: test_creds_systemd.sh SOURCE_ROOT BUILD_ROOT   (env: SEKRETSD, SEKRETS_CLI)
set -euo pipefail
src=$1 build=$2
: "${SEKRETSD:?}" "${SEKRETS_CLI:?}"
skip() { echo "# SKIP: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root (a private systemd manager in a mount namespace)"
for t in unshare nsenter setsid /lib/systemd/systemd systemctl; do
  command -v "$t" >/dev/null || skip "$t not found"
done
tmp=$(mktemp -d /tmp/skr-creds-sd.XXXXXX)
chmod 700 "$tmp"
xdg=$tmp/xdg
mkdir -m 700 "$xdg" "$xdg/sekrets" "$tmp/d"
manager= daemon=
cleanup() {
  [ -n "$manager" ] && kill "$manager" 2>/dev/null || true
  [ -n "$daemon" ] && kill "$daemon" 2>/dev/null || true
  for _ in $(seq 100); do
    { [ -n "$manager" ] && kill -0 "$manager" 2>/dev/null; } || { [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; } || break
    sleep 0.05
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; fails=$((fails + 1)); }
. "$(dirname "$0")/../wait_ping.sh"

# The manager: / private, then /run/systemd a tmpfs with system/ in it, then shared
# propagation inside the namespace only (systemd moves each unit's credentials mount
# from a child namespace into its own).
cat > "$tmp/manager.sh" <<SH
#!/bin/bash
mount --make-rprivate / && mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd &&
  mkdir /run/systemd/system && mount --make-rshared / || exit 90
export XDG_RUNTIME_DIR=$xdg
exec /lib/systemd/systemd --user --log-target=console --log-level=warning
SH
chmod +x "$tmp/manager.sh"
setsid unshare -m "$tmp/manager.sh" > "$tmp/manager.log" 2>&1 &
manager=$!
sc() { nsenter -t "$manager" -m env XDG_RUNTIME_DIR="$xdg" systemctl --user "$@"; }
for _ in $(seq 200); do
  state=$(sc is-system-running 2>/dev/null || true)
  case $state in running|degraded) break ;; esac
  kill -0 "$manager" 2>/dev/null || break
  sleep 0.05
done
case ${state:-} in running|degraded) ;; *)
  sed 's/^/# /' "$tmp/manager.log"; skip "a private systemd --user manager did not start here" ;;
esac
ok "private systemd --user manager running ($(systemctl --version | head -1))"

# sekretsd with a keyfile (unlocked), the grant, the record
head -c 32 /dev/urandom > "$tmp/d/keyfile"
chmod 600 "$tmp/d/keyfile"
cat > "$tmp/d/sekretsd.conf" <<'INI'
[credential smtp-password]
unit = skr-granted.service skr-granted-checked.service
protocol = smtp
name = alerts@example.com
field = password
INI
sock=$xdg/sekrets/sekretsd.sock creds=$xdg/sekrets/creds.sock
"$SEKRETSD" -f --hub "$tmp/d/hub" --keyfile "$tmp/d/keyfile" --socket "$sock" \
  --config "$tmp/d/sekretsd.conf" --credentials-socket "$creds" 2> "$tmp/d/log" &
daemon=$!
wait_ping "$sock" || true # what follows says what failed
echo '{"username": "alerts@example.com", "password": "pw-via-systemd"}' |
  SEKRETS_SOCKET=$sock "$SEKRETS_CLI" put smtp alerts@example.com >/dev/null

# One oneshot unit per case: copies its credential (or says it is missing) to a file.
mkdir -p "$xdg/systemd/user"
unit() { # name checked(0/1)
  {
    echo "[Service]"
    echo "Type=oneshot"
    echo "LoadCredential=smtp-password:$creds"
    [ "$2" = 1 ] && echo "ExecStartPre=/usr/bin/test -s %d/smtp-password"
    echo "ExecStart=/bin/sh -c 'cat %d/smtp-password > $tmp/$1.out'"
  } > "$xdg/systemd/user/$1.service"
}
unit skr-granted 0
unit skr-granted-checked 1
unit skr-other 0
unit skr-other-checked 1
sc daemon-reload
last_audit() { grep ' op=credential ' "$tmp/d/log" | tail -1; }

sc start skr-granted.service && [ "$(cat "$tmp/skr-granted.out")" = pw-via-systemd ] \
  && ok "granted unit: \$CREDENTIALS_DIRECTORY/smtp-password holds the password" \
  || not_ok "granted unit gets the password"
last_audit | grep -q 'unit="skr-granted.service" id="smtp-password" bytes=14 result=ok' \
  && ok "granted unit: audit line ok, 14 bytes" || { last_audit; not_ok "granted unit: audit line"; }
pid=$(last_audit | sed -n 's/.*pid=\([0-9]*\) .*/\1/p')
[ "$(last_audit | sed -n 's/.* uid=\([0-9]*\) .*/\1/p')" = 0 ] \
  && ok "the peer uid is the manager's (0 here)" || not_ok "peer uid"

if sc start skr-other.service && [ -f "$tmp/skr-other.out" ] && [ ! -s "$tmp/skr-other.out" ]; then
  ok "ungranted unit: systemd starts it with an empty credential (what 252 does)"
else
  not_ok "ungranted unit: started with an empty credential"
fi
last_audit | grep -q 'unit="skr-other.service" id="smtp-password" bytes=0 result=denied' \
  && ok "ungranted unit: audit line denied" || { last_audit; not_ok "ungranted unit: audit line"; }
if sc start skr-other-checked.service 2>/dev/null; then
  not_ok "ungranted unit with ExecStartPre=test -s fails"
else
  ok "ungranted unit with ExecStartPre=/usr/bin/test -s %d/smtp-password fails"
fi
[ ! -e "$tmp/skr-other-checked.out" ] && ok "...and its ExecStart never ran" || not_ok "ExecStart ran"

SEKRETS_SOCKET=$sock "$SEKRETS_CLI" lock >/dev/null
if sc start skr-granted-checked.service 2>/dev/null; then not_ok "locked hub: checked unit fails"
else ok "locked hub: the checked granted unit fails"; fi
last_audit | grep -q 'unit="skr-granted-checked.service" id="smtp-password" bytes=0 result=locked' \
  && ok "locked hub: audit line locked" || { last_audit; not_ok "locked hub: audit line"; }
SEKRETS_SOCKET=$sock "$SEKRETS_CLI" unlock --keyfile "$tmp/d/keyfile" >/dev/null
sc reset-failed skr-granted-checked.service
sc start skr-granted-checked.service && [ "$(cat "$tmp/skr-granted-checked.out")" = pw-via-systemd ] \
  && ok "after unlock: the checked unit starts with its password" || not_ok "after unlock"
# ---- 4: the built units, socket-activated, serve the README example unit ----
kill "$daemon"
while kill -0 "$daemon" 2>/dev/null; do sleep 0.05; done
daemon=
cp "$build/systemd/sekretsd.socket" "$build/systemd/sekretsd-creds.socket" "$xdg/systemd/user/"
sed "s|^ExecStart=[^ ]*/sekretsd |ExecStart=$SEKRETSD |" "$build/systemd/sekretsd.service" \
  > "$xdg/systemd/user/sekretsd.service"
mkdir -m 700 "$tmp/sd-hub" "$xdg/systemd/user/sekretsd.service.d"
awk -v m="<!-- creds-example-config -->" '$0 == m { on = 1; next } on && /^```ini/ { inb = 1; next }
  inb && /^```/ { exit } inb { print }' "$src/README.md" > "$tmp/d/readme.conf"
cat > "$xdg/systemd/user/sekretsd.service.d/test.conf" <<INI
[Service]
ExecStartPre=
ExecStart=
ExecStart=$SEKRETSD --foreground --hub $tmp/sd-hub/hub --keyfile-credential kf --config $tmp/d/readme.conf
LoadCredential=kf:$tmp/d/keyfile
ReadWritePaths=
ReadWritePaths=$tmp/sd-hub
PrivateTmp=no
StandardError=file:$tmp/sd.log
# In an ASan build, LeakSanitizer cannot stop the world under SystemCallFilter= and the
# daemon hangs at exit until TimeoutStopSec; the creds test checks leaks instead.
Environment=ASAN_OPTIONS=detect_leaks=0
INI
awk -v m="<!-- creds-example-unit -->" '$0 == m { on = 1; next } on && /^```ini/ { inb = 1; next }
  inb && /^```/ { exit } inb { print }' "$src/README.md" |
  sed "s|^ExecStart=.*|ExecStart=/bin/sh -c 'cat %d/smtp-password > $tmp/mail-alerts.out; exec sleep 600'|" \
  > "$xdg/systemd/user/mail-alerts.service"
sc daemon-reload
sc start sekretsd.socket sekretsd-creds.socket
echo '{"username": "alerts@example.com", "password": "pw-socket-activated"}' |
  SEKRETS_SOCKET=$xdg/sekrets/sekretsd.sock "$SEKRETS_CLI" put smtp alerts@example.com >/dev/null \
  && ok "socket-activated sekretsd.service (built unit, sandboxed) takes a put" \
  || { sed 's/^/# /' "$tmp/sd.log" 2>/dev/null; not_ok "socket-activated put"; }
sc start mail-alerts.service || true
for _ in $(seq 200); do [ -s "$tmp/mail-alerts.out" ] && break; sleep 0.05; done
[ "$(cat "$tmp/mail-alerts.out" 2>/dev/null)" = pw-socket-activated ] \
  && ok "the README unit gets its password through sekretsd-creds.socket" \
  || { sed 's/^/# /' "$tmp/sd.log" 2>/dev/null; sc status mail-alerts.service sekretsd.service 2>&1 | sed 's/^/# /'; not_ok "the README unit gets its password"; }
grep -q 'credentials socket passed by systemd' "$tmp/sd.log" \
  && ok "sekretsd took the fd named creds from systemd" || not_ok "fd named creds"
grep -q 'unit="mail-alerts.service" id="smtp-password" bytes=19 result=ok' "$tmp/sd.log" \
  && ok "audit line of the README unit" || not_ok "audit line of the README unit"
sc stop mail-alerts.service sekretsd.service sekretsd.socket sekretsd-creds.socket || true
[ "$(sc show -p Result --value sekretsd.service)" = success ] \
  && ok "sekretsd.service stopped cleanly" || not_ok "sekretsd.service stopped cleanly"
echo "# peer pid of the first request: $pid"
echo "# $fails failed"
[ "$fails" -eq 0 ]
