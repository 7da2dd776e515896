# tests/client/helper_lib.sh - sourced by the credential-helper tests (git, docker, keyring):
# a temp folder, a real sekretsd on a temp socket and keyfile hub, exact expectations.
# Needs $SEKRETSD and $SEKRETS_CLI. Sets T (the folder, removed at exit) and SOCK.
: "${SEKRETSD:?}" "${SEKRETS_CLI:?}"
. "$(dirname "${BASH_SOURCE[0]}")/../wait_ping.sh"
T=$(mktemp -d /tmp/skr-helper.XXXXXX)
chmod 700 "$T"
mkdir -m 700 "$T/run" "$T/hub"
SOCK=$T/run/s.sock
DPID=
FAILS=0
helper_cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    rm -rf "$T"
}
trap helper_cleanup EXIT
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# start: a keyfile hub (created unlocked, no prompt); returns once ping answers
start() {
    [ -f "$T/key" ] || { head -c 32 /dev/urandom > "$T/key"; chmod 600 "$T/key"; }
    "$SEKRETSD" --foreground --socket "$SOCK" --hub "$T/hub" --keyfile "$T/key" 2>>"$T/daemon.log" &
    DPID=$!
    wait_ping "$SOCK" && return 0
    echo "daemon did not start" >&2; cat "$T/daemon.log" >&2; exit 1
}
stop() { kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }
# expect CODE STDOUT INPUT -- command...: INPUT on stdin; exact exit code and stdout
# (stderr is left in $T/err)
expect() {
    local code=$1 want=$2 input=$3; shift 4
    local out rc
    out=$(printf '%s' "$input" | "$@" 2>"$T/err"); rc=$?
    [ "$rc" = "$code" ] || fail "$* <<<[$input] -> exit $rc, want $code ($(cat "$T/err"))"
    [ "$out" = "$want" ] || fail "$* <<<[$input] -> stdout [$out], want [$want]"
}
# done_tests NAME: the verdict, and no secret of the run in the daemon's log
done_tests() {
    local s
    for s in "${SECRETS[@]}"; do
        grep -qF -- "$s" "$T/daemon.log" && fail "secret [$s] in the daemon's log"
    done
    [ "$FAILS" = 0 ] || { echo "$FAILS failures" >&2; exit 1; }
    echo "all $1 tests passed"
}
