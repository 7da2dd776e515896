#!/bin/bash
# tests/client/cli_test.sh - sekrets-cli against a real sekretsd: every subcommand, every
# exit code, JSON round trips through `call`, exec, .gluedb import/export, and no secret on
# any command line. Needs $SEKRETSD and $SEKRETS_CLI (meson sets both).
set -u
: "${SEKRETSD:?}" "${SEKRETS_CLI:?}"
T=$(mktemp -d /tmp/skr-cli.XXXXXX)
chmod 700 "$T"
mkdir -m 700 "$T/run" "$T/hub" "$T/hub2" "$T/run2"
export SEKRETS_SOCKET="$T/run/s.sock"
DPID=
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
FAILS=0
CLI() { "$SEKRETS_CLI" "$@"; }
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }
# expect CODE STDOUT -- command...: exact exit code and exact stdout
expect() {
    local code=$1 want=$2; shift 3
    local out rc
    out=$("$@" 2>"$T/err"); rc=$?
    [ "$rc" = "$code" ] || fail "$* -> exit $rc, want $code ($(cat "$T/err"))"
    [ "$out" = "$want" ] || fail "$* -> stdout [$out], want [$want]"
}
start() { # start SOCKET HUB [args]: starts the daemon, waits until ping answers
    local sock=$1 hub=$2; shift 2
    "$SEKRETSD" --foreground --socket "$sock" --hub "$hub" --kdf-limits min "$@" 2>>"$T/daemon.log" &
    DPID=$!
    for _ in $(seq 100); do
        SEKRETS_SOCKET=$sock "$SEKRETS_CLI" ping >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "daemon did not start" >&2; cat "$T/daemon.log" >&2; exit 1
}
stop() { kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }

# --- cannot reach the daemon: exit 6, the message names the socket and how to start it
expect 6 "" -- CLI ping
grep -q "$T/run/s.sock" "$T/err" && grep -q "start it with" "$T/err" || fail "unreachable message: $(cat "$T/err")"
expect 6 "" -- env -u SEKRETS_SOCKET -u XDG_RUNTIME_DIR "$SEKRETS_CLI" status
# --- usage: exit 2
expect 2 "" -- CLI
expect 2 "" -- CLI frobnicate
expect 2 "" -- CLI get
expect 2 "" -- CLI get a b
expect 2 "" -- CLI get a -Z          # getopt names the option once, then the usage line
[ "$(cat "$T/err")" = "sekrets-cli: get: invalid option -- 'Z'
usage: sekrets-cli get NAME [-p PROTOCOL] [-f FIELD] [--json]" ] || fail "bad option message: $(cat "$T/err")"
expect 2 "" -- CLI get a --socket /x   # a global option after the command
grep -q "^sekrets-cli: --socket is a global option: put it before the command$" "$T/err" ||
    fail "global option hint: $(cat "$T/err")"
expect 2 "" -- CLI db
expect 2 "" -- CLI --timeout x ping
expect 0 "" -- sh -c "\"$SEKRETS_CLI\" --help | grep -q '  11  integrity'"
expect 0 "" -- sh -c "\"$SEKRETS_CLI\" --help | grep -q '(1..3600000, default 30000); past it, exit 6'"
expect 0 "sekrets-cli 0.1.0 (libsekrets 0.1.0)" -- CLI --version

# --- a new hub with a passphrase: init, lock, unlock, passwd
start "$SEKRETS_SOCKET" "$T/hub"
printf 'correct horse\n' > "$T/pass1"; printf 'battery staple' > "$T/pass2"; printf 'wrong\n' > "$T/bad"
expect 0 "pong" -- CLI ping
expect 4 "" -- CLI hub                                    # not initialised: locked
expect 0 "initialized: no" -- sh -c "\"$SEKRETS_CLI\" status | head -1"
expect 2 "" -- CLI init </dev/null                        # no terminal, no fd: usage
expect 0 "" -- CLI init --passphrase-file "$T/pass1"
# status shows where the hub and socket are, the cipher suite and the KDF limits
expect 0 "$(printf 'hub: %s\nsocket: %s' "$T/hub" "$SEKRETS_SOCKET")" -- sh -c "\"$SEKRETS_CLI\" status | grep -E '^(hub|socket):'"
expect 0 "kdf: argon2id, opslimit 1, memlimit 8 KiB" -- sh -c "\"$SEKRETS_CLI\" status | grep '^kdf:'"
expect 0 "1" -- sh -c "\"$SEKRETS_CLI\" status | grep -cE '^suite: (aes-256-gcm|xchacha20-poly1305)\$'"
expect 0 '"kdf":{"kind":"argon2id","opslimit":1,"memlimit":8192}}' -- sh -c "\"$SEKRETS_CLI\" status --json | sed 's/.*,\"kdf/\"kdf/'"
expect 7 "" -- CLI init --passphrase-file "$T/pass1"       # exists
grep -q "already initialised: .sekrets-cli unlock. opens it" "$T/err" || fail "init exists message: $(cat "$T/err")"
expect 2 "" -- sh -c "printf ' \n' | \"$SEKRETS_CLI\" post p n"   # nothing on stdin
grep -q "no body on stdin" "$T/err" || fail "empty stdin message: $(cat "$T/err")"
expect 2 "" -- sh -c "echo '{bad' | \"$SEKRETS_CLI\" post p n"
[ "$(wc -l < "$T/err")" = 1 ] && grep -q "body on stdin: invalid JSON at line 1" "$T/err" ||
    fail "bad JSON: want one line, got: $(cat "$T/err")"
expect 3 "" -- CLI import "$T/no-such.gluedb" -p x
grep -q "cannot read $T/no-such.gluedb: no such file" "$T/err" || fail "import message: $(cat "$T/err")"
expect 0 '{"initialized":true,"locked":false}' -- sh -c "\"$SEKRETS_CLI\" status --json | sed 's/,\"version.*/}/'"
expect 0 "" -- CLI lock
expect 4 "" -- CLI get x
expect 0 "locked: yes" -- sh -c "\"$SEKRETS_CLI\" status | sed -n 2p"
expect 8 "" -- CLI unlock --passphrase-file "$T/bad"
expect 9 "" -- CLI unlock --passphrase-fd 3 3<"$T/pass1"   # rate limited right after
grep -q "too many wrong passphrases: retry in [0-9]* ms" "$T/err" || fail "rate_limited says how long: $(cat "$T/err")"
sleep 1.2
expect 0 "" -- CLI unlock --passphrase-fd 3 3<"$T/pass1"   # trailing newline dropped
expect 0 "" -- CLI passwd --passphrase-file "$T/pass1" --new-passphrase-fd 4 4<"$T/pass2"
expect 0 "" -- CLI lock
expect 0 "" -- CLI unlock --passphrase-file "$T/pass2"
expect 0 "re-encrypted 0 records" -- CLI rotate
stop

# --- a keyfile hub for the data commands
head -c 32 /dev/urandom > "$T/key"; chmod 600 "$T/key"
start "$SEKRETS_SOCKET" "$T/hub2" --keyfile "$T/key"
expect 0 "" -- sh -c "echo '{\"user\":\"bob\",\"password\":\"s3cr\\u00e9t\",\"port\":5432,\"deep\":{\"a\":[1,{\"b\":null}]},\"raw\":{\"\$bin\":\"AAEC\"}}' | \"$SEKRETS_CLI\" post s3 alice"
expect 7 "" -- sh -c "echo '{}' | \"$SEKRETS_CLI\" post s3 alice"
expect 2 "" -- sh -c "echo '{bad' | \"$SEKRETS_CLI\" post s3 carol"
expect 2 "" -- CLI post 'bad/proto' x -F a=b
printf 'line1\nline2\n' > "$T/keyfile.pem"
expect 0 "" -- CLI put s3 bob -F password=hunter2 -F "pem=@$T/keyfile.pem" -F $'esc=a\x1b[31m'
expect 0 "" -- CLI put s3 bob -F password=hunter3 -F "pem=@$T/keyfile.pem" -F $'esc=a\x1b[31m'
expect 3 "" -- CLI put s3 dan -F "pem=@$T/nonexistent"
expect 0 "" -- CLI post smtp bob -F password=mail
expect 0 "s3crét t" -- sh -c "\"$SEKRETS_CLI\" get alice -p s3 -f password; echo ' t'"
expect 0 "hunter3" -- CLI get bob -p s3 -f password
expect 0 "5432" -- CLI get alice -f port
expect 0 '{"a":[1,{"b":null}]}' -- CLI get alice -f deep
expect 0 '"s3crét"' -- CLI get alice -f password --json
expect 3 "" -- CLI get alice -f nope
expect 0 "$(printf 'line1\nline2')" -- CLI get bob -p s3 -f pem
expect 0 '{"password":"hunter3","pem":"line1\nline2\n","esc":"a\u001b[31m"}' -- sh -c "\"$SEKRETS_CLI\" get bob -p s3 --json | sed 's/.*\"body\"://; s/}\$//'"
# Human output escapes control characters.
expect 0 "  esc: a\\x1b[31m" -- sh -c "\"$SEKRETS_CLI\" get bob -p s3 | grep esc"
expect 0 "  pem: line1\\nline2\\n" -- sh -c "\"$SEKRETS_CLI\" get bob -p s3 | grep pem"
expect 0 "$(printf 'protocol: s3\nname: alice')" -- sh -c "\"$SEKRETS_CLI\" get alice | head -2"
expect 10 "" -- CLI get bob                               # ambiguous
grep -q "more than one protocol: s3 smtp; give the protocol" "$T/err" || fail "ambiguous names the protocols: $(cat "$T/err")"
expect 3 "" -- CLI get carol                              # not found
expect 3 "" -- CLI get carol -p s3
expect 0 "$(printf 'alice\nbob')" -- CLI db s3
expect 0 '{"protocol":"s3","names":["alice","bob"]}' -- CLI db s3 --json
expect 3 "" -- CLI db nope                                # same not-found code
expect 0 "$(printf 's3\t2\nsmtp\t1')" -- CLI hub
expect 0 '{"protocols":[{"name":"s3","count":2},{"name":"smtp","count":1}]}' -- CLI hub --json
expect 0 "" -- CLI rm smtp bob
expect 3 "" -- CLI rm smtp bob                            # same not-found code
expect 0 "s3	2" -- CLI hub

# --- call: JSON in, the whole reply as JSON out; $bin both ways
expect 0 '{"id":1,"ok":true,"result":"pong"}' -- CLI call '{"id":1,"op":"ping"}'
expect 0 '{"id":2,"ok":true,"result":{"created":true}}' -- CLI call '{"id":2,"op":"post","protocol":"b","name":"n","body":{"k":{"$bin":"AP8="},"l":[1,-2,3.5,true,null]}}'
expect 0 '{"k":{"$bin":"AP8="},"l":[1,-2,3.5,true,null]}' -- sh -c "echo '{\"id\":3,\"op\":\"get\",\"protocol\":\"b\",\"name\":\"n\"}' | \"$SEKRETS_CLI\" call | sed 's/.*\"body\"://; s/,\"created\".*//'"
expect 3 '{"id":4,"ok":false,"error":{"code":"not_found","message":"not found"}}' -- bash -o pipefail -c "\"$SEKRETS_CLI\" call '{\"id\":4,\"op\":\"get\",\"name\":\"zz\"}' | sed 's/\"message\":\"[^\"]*\"/\"message\":\"not found\"/'"
expect 2 "" -- sh -c "\"$SEKRETS_CLI\" call '{\"id\":5,\"op\":\"nope\"}' >/dev/null"
expect 2 "" -- CLI call '[1]'
expect 2 "" -- CLI call '{nope'

# --- exec: fields in the child's environment, the child's exit status
expect 0 "hunter3|5432|x" -- CLI exec -e PW=s3/bob/password -e PORT=s3/alice/port -- sh -c 'echo "$PW|$PORT|x"'
expect 42 "" -- CLI exec -e PW=s3/bob/password -- sh -c 'exit 42'
expect 3 "" -- CLI exec -e PW=s3/nobody/password -- true
expect 3 "" -- CLI exec -e PW=s3/bob/nofield -- true
expect 2 "" -- CLI exec -e 'bad var=s3/bob/password' -- true
expect 2 "" -- CLI exec -e PW=s3/bob/password
expect 127 "" -- CLI exec -e PW=s3/bob/password -- /nonexistent/cmd

# --- no secret on any command line while the CLI runs (passphrase, field values)
mkfifo "$T/fifo"
CLI unlock --passphrase-file "$T/fifo" >/dev/null 2>&1 &
UPID=$!
CLI exec -e PW=s3/bob/password -- sleep 7.5 &
EPID=$!
sleep 0.3
# Patterns in files, so that no grep of ours carries them in its own argv.
printf 'hunter3\ncorrect horse\nbattery staple\n' > "$T/secrets"
printf 'sleep\0007.5' > "$T/p_exec"; printf 'unlock\000--passphrase-file' > "$T/p_unlock"
seen() { grep -a -l -F -f "$1" /proc/[0-9]*/cmdline 2>/dev/null | grep -q .; }
for _ in $(seq 50); do seen "$T/p_exec" && seen "$T/p_unlock" && break; sleep 0.1; done
seen "$T/p_exec" || fail "the exec child was not seen in /proc"
seen "$T/p_unlock" || fail "the CLI run was not seen in /proc"
if seen "$T/secrets"; then
    fail "a secret appears in /proc/*/cmdline"
fi
printf 'correct horse' > "$T/fifo"
kill $EPID 2>/dev/null
wait $EPID $UPID

# --- import / export of .gluedb
cat > "$T/in.gluedb" <<'JSON'
{"model": "pyswark.gluedb.db.Db", "contents": {"records": [
 {"info": {"name": "zoë@example.com", "date_created": "2024-01-01T00:00:00", "date_modified": "2024-01-02T00:00:00"},
  "body": {"model": "pyswark.core.models.Dict", "contents": {"client_id": "id1", "client_secret": "cs1", "nested": {"a": {"b": [1, "x", null]}}}}},
 {"info": {"name": "second"}, "body": {"model": "m", "contents": "{\"token\": \"t0k\", \"n\": 2}"}},
 {"info": {"name": "日本語"}, "body": {"model": "m", "contents": {}}}
]}}
JSON
expect 0 "imported 3 records into gdrive2" -- CLI import "$T/in.gluedb" -p gdrive2
expect 0 "$(printf 'zoë@example.com\nsecond\n日本語')" -- CLI db gdrive2
expect 0 "cs1" -- CLI get 'zoë@example.com' -p gdrive2 -f client_secret
expect 0 "t0k" -- CLI get second -p gdrive2 -f token
expect 0 "" -- sh -c "umask 022; \"$SEKRETS_CLI\" export -p gdrive2 -o '$T/out.gluedb'"
expect 0 "600" -- stat -c %a "$T/out.gluedb"                       # secrets in clear: owner-only
echo old > "$T/wide.gluedb"; chmod 644 "$T/wide.gluedb"
expect 0 "" -- CLI export -p gdrive2 -o "$T/wide.gluedb"
expect 0 "600" -- stat -c %a "$T/wide.gluedb"                      # an old file is narrowed too
expect 0 "" -- cmp "$T/out.gluedb" "$T/wide.gluedb"
expect 1 "" -- CLI export -p gdrive2 -o "$T/no/such/dir/x.gluedb"
expect 0 "" -- CLI export -p gdrive2 -o /dev/null                 # not a regular file: as is
expect 0 "666" -- stat -c %a /dev/null
echo theirs > "$T/theirs.gluedb"; chmod 644 "$T/theirs.gluedb"
if [ "$(id -u)" = 0 ]; then
    chown 65534 "$T/theirs.gluedb"
    expect 1 "" -- CLI export -p gdrive2 -o "$T/theirs.gluedb"   # another user's file
    expect 0 "theirs" -- cat "$T/theirs.gluedb"                   # left as it was
fi
expect 0 "imported 3 records into copy" -- CLI import "$T/out.gluedb" -p copy
expect 0 "" -- cmp <(CLI export -p gdrive2 | grep -v date_) <(CLI export -p copy | grep -v date_)
expect 0 '{"client_id":"id1","client_secret":"cs1","nested":{"a":{"b":[1,"x",null]}}}' -- sh -c "\"$SEKRETS_CLI\" get 'zoë@example.com' -p copy --json | sed 's/.*\"body\"://; s/}\$//'"
expect 0 '{"token":"t0k","n":2}' -- sh -c "\"$SEKRETS_CLI\" get second -p copy --json | sed 's/.*\"body\"://; s/}\$//'"
expect 7 "" -- CLI import "$T/in.gluedb" -p gdrive2              # clash: nothing written
HUB=$(CLI hub --json)
# Malformed: the third record's contents is a list. Nothing of it is written.
sed 's/"contents": {}}/"contents": [1]}/' "$T/in.gluedb" > "$T/bad.gluedb"
expect 2 "" -- CLI import "$T/bad.gluedb" -p fresh
grep -q "record 3" "$T/err" || fail "import error does not name record 3: $(cat "$T/err")"
expect 0 "$HUB" -- CLI hub --json
expect 3 "" -- CLI db fresh
expect 3 "" -- CLI import "$T/none.gluedb" -p fresh
expect 3 "" -- CLI export -p fresh

stop

# --- a locked keyfile hub unlocks with --keyfile: the bytes exactly, a trailing \n kept
{ head -c 40 /dev/urandom; printf '\n'; } > "$T/nlkey"; chmod 600 "$T/nlkey"
start "$SEKRETS_SOCKET" "$T/hub-nl" --keyfile "$T/nlkey"
expect 0 "" -- CLI put ftp bob -F password=kept
expect 0 "" -- CLI lock
expect 0 "" -- CLI unlock --keyfile "$T/nlkey"
expect 0 "kept" -- CLI get bob -p ftp -f password
expect 2 "" -- CLI init --keyfile "$T/nlkey"                    # init takes a passphrase only
expect 2 "" -- CLI unlock --keyfile "$T/nlkey" --passphrase-file "$T/pass1"
expect 2 "" -- CLI unlock --keyfile "$T/no-such-key"
grep -q "cannot read the keyfile $T/no-such-key" "$T/err" || fail "keyfile message: $(cat "$T/err")"
expect 0 "" -- CLI passwd --keyfile "$T/nlkey" --new-passphrase-file "$T/pass2"
expect 0 "" -- CLI lock
expect 0 "" -- CLI unlock --passphrase-file "$T/pass2"
expect 0 "kept" -- CLI get bob -p ftp -f password
stop
head -c 4097 /dev/urandom > "$T/bigkey"; chmod 600 "$T/bigkey"
expect 5 "" -- "$SEKRETSD" --foreground --socket "$T/run/big.sock" --hub "$T/hub-big" --keyfile "$T/bigkey"
grep -q "4097 bytes; a new hub takes 32 to 4096" "$T/err" || fail "big keyfile message: $(cat "$T/err")"
grep -q "new hub created" "$T/err" && fail "a refused keyfile keyed a new hub"
head -c 32 /dev/urandom > "$T/openkey"; chmod 644 "$T/openkey"     # readable by others
expect 5 "" -- "$SEKRETSD" --foreground --socket "$T/run/big.sock" --hub "$T/hub-open" --keyfile "$T/openkey"
[ -e "$T/hub-open" ] && fail "a refused keyfile left the hub folder $T/hub-open"
# a start refused for its socket (another daemon answers there) keys no new hub
head -c 32 /dev/urandom > "$T/key-y"; chmod 600 "$T/key-y"
start "$SEKRETS_SOCKET" "$T/hub2" --keyfile "$T/key"
expect 4 "" -- "$SEKRETSD" --foreground --socket "$SEKRETS_SOCKET" --hub "$T/hub-y" --keyfile "$T/key-y"
grep -q "already running" "$T/err" || fail "busy socket message: $(cat "$T/err")"
grep -q "new hub created" "$T/err" && fail "a start refused for its socket keyed a new hub"
stop

# --- integrity: two records' ciphertexts swapped in the file -> exit 11 for both, others fine
TAMPER=${1:?tamper_swap path}
expect 0 "" -- "$TAMPER" "$T/hub2"
start "$SEKRETS_SOCKET" "$T/hub2" --keyfile "$T/key"
integrity=0
for p in $(CLI hub | awk '{print $1}'); do
    for n in $(CLI db "$p"); do
        CLI get "$n" -p "$p" >/dev/null 2>"$T/err"; rc=$?
        case $rc in 0) ;; 11) integrity=$((integrity + 1)) ;; *) fail "get $p/$n -> exit $rc" ;; esac
    done
done
[ "$integrity" = 2 ] || fail "swapped records: $integrity gave exit 11, want 2"

# --- denied: another uid (root only: needs to switch uid), with the socket opened up
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
    chmod 755 "$T" "$T/run"; chmod 666 "$SEKRETS_SOCKET"
    expect 5 "" -- setpriv --reuid=65534 --regid=65534 --clear-groups "$SEKRETS_CLI" ping
    grep -q "denied" "$T/err" || fail "denied message: $(cat "$T/err")"
else
    fail "exit 5 (denied) needs root and setpriv to act as another uid"
fi
stop

# --- prompts on a terminal (script(1) gives the CLI a pty): asked twice, never echoed
if command -v script >/dev/null; then
    mkdir -m 700 "$T/run3" "$T/hub3"
    export SEKRETS_SOCKET="$T/run3/s.sock"
    start "$SEKRETS_SOCKET" "$T/hub3"
    (sleep 1; printf 'pty pass phrase\n'; sleep 1; printf 'pty pass phrase\n'; sleep 1) |
        script -qec "$SEKRETS_CLI init" /dev/null > "$T/tty1" 2>&1
    expect 0 "initialized: yes" -- sh -c "\"$SEKRETS_CLI\" status | head -1"
    grep -q "Repeat it" "$T/tty1" || fail "init did not ask twice: $(cat "$T/tty1")"
    ! grep -q "pty pass phrase" "$T/tty1" || fail "the passphrase was echoed on the terminal"
    (sleep 1; printf 'password\n'; sleep 1; printf 'pty-field-secret\n'; sleep 1; printf '\n'; sleep 1) |
        script -qec "$SEKRETS_CLI put smtp carol" /dev/null > "$T/tty2" 2>&1
    expect 0 "pty-field-secret" -- CLI get carol -p smtp -f password
    grep -q "Field name" "$T/tty2" || fail "no field prompt: $(cat "$T/tty2")"
    ! grep -q "pty-field-secret" "$T/tty2" || fail "a prompted field value was echoed"
    stop
else
    fail "script(1) is missing: the terminal prompts are untested"
fi
[ "$FAILS" = 0 ] || { echo "$FAILS failures" >&2; exit 1; }
echo "all CLI tests passed"
