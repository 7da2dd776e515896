#!/usr/bin/env bash
# Starts sekretsd in the foreground on a demo hub in a throwaway folder: keyfile-unlocked,
# with a few demo credentials, and prints the socket path and queries to paste.
# Ctrl-C (or SIGTERM) stops it and removes the folder.
# It first installs the build dependencies if missing (needs root then) and builds.
# Usage: daemon/demo.sh [BUILD_DIR]   (default: build)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$top/build}
"$top/.ci/deps"
# the same options as tests/run, which reuses this build folder
[ -f "$build/build.ninja" ] || meson setup "$build" "$top" -Dwerror=true >/dev/null
meson compile -C "$build" >/dev/null
build=$(cd "$build" && pwd)
daemon=$build/daemon/sekretsd
cli=$build/client/cli/sekrets-cli

demo=$(mktemp -d /tmp/sekrets-demo.XXXXXX)
chmod 700 "$demo"
sock=$demo/run/sekretsd.sock
head -c 32 /dev/urandom > "$demo/keyfile"
chmod 600 "$demo/keyfile"

"$daemon" --foreground --socket "$sock" --hub "$demo/hub" --keyfile "$demo/keyfile" &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$demo"; }
trap cleanup EXIT
trap 'exit 0' INT TERM

export SEKRETS_SOCKET=$sock
for _ in $(seq 100); do "$cli" ping >/dev/null 2>&1 && break; sleep 0.05; done
"$cli" ping >/dev/null || { echo "demo: sekretsd did not start" >&2; exit 1; }

echo '{"client_id": "1234.apps.example.com", "client_secret": "demo-gdrive-secret", "profile": "work", "path": "/drive/alice"}' \
  | "$cli" put gdrive2 alice@example.com
echo '{"client_id": "5678.apps.example.com", "client_secret": "demo-gdrive-secret-2", "profile": "home", "path": "/drive/bob"}' \
  | "$cli" put gdrive2 bob@example.com
echo '{"access_key": "AKIADEMO", "secret_key": "demo-s3-secret", "region": "eu-west-1"}' \
  | "$cli" put s3 backup-bot

cat <<MSG

sekretsd is running on a demo hub (pid $pid). Socket:
  $sock

In another terminal, paste:
  export SEKRETS_SOCKET=$sock
  $cli hub
  $cli db gdrive2
  $cli get alice@example.com -p gdrive2
  $cli get backup-bot -f secret_key
  $cli call '{"id": 1, "op": "getHub"}'

Ctrl-C stops the daemon and deletes the demo folder ($demo).
MSG
wait "$pid"
