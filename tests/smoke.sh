#!/usr/bin/env bash
# tests/smoke.sh BUILD_DIR - a build that has no test suites (e.g. -Dauto_features=disabled)
# still gives a daemon, CLI and library that work: a keyfile hub, a put, a get of it back.
set -euo pipefail
build=$(cd "$1" && pwd)
t=$(mktemp -d /tmp/skr-smoke.XXXXXX)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$t"' EXIT
mkdir -m 700 "$t/run"
head -c 32 /dev/urandom > "$t/key" && chmod 600 "$t/key"
"$build/daemon/sekretsd" --foreground --socket "$t/run/s.sock" --hub "$t/hub" --keyfile "$t/key" 2>"$t/log" &
pid=$!
export SEKRETS_SOCKET=$t/run/s.sock
for _ in $(seq 200); do "$build/client/cli/sekrets-cli" ping >/dev/null 2>&1 && break; sleep 0.05; done
echo '{"password": "smoke-pw"}' | "$build/client/cli/sekrets-cli" put smoke alice >/dev/null
got=$("$build/client/cli/sekrets-cli" get alice -p smoke -f password)
[ "$got" = smoke-pw ] || { echo "smoke: got [$got]"; cat "$t/log"; exit 1; }
echo "smoke ok: $("$build/daemon/sekretsd" --version)"
