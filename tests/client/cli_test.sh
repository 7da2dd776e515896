#!/bin/bash
# tests/client/cli_test.sh - sekrets-cli against a real sekretsd: every subcommand, every
# exit code, JSON round trips through `call`, exec, .gluedb import/export, and no secret on
# any command line. Needs $SEKRETSD and $SEKRETS_CLI (meson sets both).
set -u
: "${SEKRETSD:?}" "${SEKRETS_CLI:?}"
. "$(dirname "$0")/../wait_ping.sh"
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
    wait_ping "$sock" 100 && return 0
    echo "daemon did not start" >&2; cat "$T/daemon.log" >&2; exit 1
}
stop() { kill "$DPID"; wait "$DPID" 2>/dev/null; DPID=; }

# --- cannot reach the daemon: exit 6, the message names the socket and how to start it
# and why; the hint is a command that starts a daemon on that very path
unreach() { # unreach WHY HINT: the one line of the last command
    [ "$(cat "$T/err")" = "sekrets-cli: ping: cannot reach the daemon at $1$2" ] ||
        fail "unreachable message: $(cat "$T/err"), want: ...$1$2"
}
expect 6 "" -- CLI ping
unreach "$T/run/s.sock (no such socket: the daemon is not running)" \
    "; start it with \`sekretsd &\` (it listens on \$SEKRETS_SOCKET too)"
expect 6 "" -- CLI --socket "$T/run/other.sock" ping
unreach "$T/run/other.sock (no such socket: the daemon is not running)" \
    "; start it with \`sekretsd --socket $T/run/other.sock &\`"
mkdir -m 700 "$T/xdg"
expect 6 "" -- env -u SEKRETS_SOCKET XDG_RUNTIME_DIR="$T/xdg" "$SEKRETS_CLI" ping
unreach "$T/xdg/sekrets/sekretsd.sock (no such socket: the daemon is not running)" \
    "; start it with \`sekretsd &\` or \`systemctl --user start sekretsd.socket\`"
echo x > "$T/run/file"
expect 6 "" -- CLI --socket "$T/run/file" ping
unreach "$T/run/file (not a socket)" ""
if [ "$(id -u)" = 0 ]; then      # $T is root's, 0700
    expect 6 "" -- setpriv --reuid=65534 --regid=65534 --clear-groups "$SEKRETS_CLI" --socket "$T/run/file" ping
    unreach "$T/run/file (permission denied: the socket or its folder is not yours)" ""
fi
# a daemon killed with SIGKILL leaves its socket: stale; the hint's command starts one there
"$SEKRETSD" --foreground --socket "$T/run/stale.sock" --hub "$T/hub-stale" --kdf-limits min 2>>"$T/daemon.log" &
KPID=$!
for _ in $(seq 100); do CLI --socket "$T/run/stale.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
kill -9 $KPID; wait $KPID 2>/dev/null
expect 6 "" -- CLI --socket "$T/run/stale.sock" ping
unreach "$T/run/stale.sock (connection refused: a stale socket, no daemon listens on it)" \
    "; start it with \`sekretsd --socket $T/run/stale.sock &\`"
HINT=$(sed 's/.*start it with `\(.*\) &`$/\1/' "$T/err")
[ "$HINT" = "sekretsd --socket $T/run/stale.sock" ] || fail "hint: $HINT"
"$SEKRETSD" ${HINT#sekretsd} --foreground --hub "$T/hub-stale" --kdf-limits min 2>>"$T/daemon.log" &
KPID=$!
for _ in $(seq 100); do CLI --socket "$T/run/stale.sock" ping >/dev/null 2>&1 && break; sleep 0.05; done
expect 0 "pong" -- CLI --socket "$T/run/stale.sock" ping
kill $KPID; wait $KPID 2>/dev/null
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
chmod 600 "$T/pass1" "$T/pass2" "$T/bad"   # one readable by others gets a warning (below)
expect 0 "pong" -- CLI ping
expect 4 "" -- CLI hub                                    # not initialised: locked
grep -q "create it with 'sekrets-cli init'" "$T/err" || fail "new hub says init: $(cat "$T/err")"
grep -q "unlock it with" "$T/err" && fail "a new hub is not told to unlock: $(cat "$T/err")"
expect 0 "not initialised: nothing to lock" -- CLI lock
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
expect 2 "" -- CLI import "$T/no-such.gluedb" -p x            # input, not "not found"
[ "$(cat "$T/err")" = "sekrets-cli: import: cannot read $T/no-such.gluedb: no such file" ] ||
    fail "import message: $(cat "$T/err")"
# errors of input, not of usage: one line, no usage line; the limits they break are stated
one_line() { [ "$(cat "$T/err")" = "sekrets-cli: $1" ] || fail "want one line [sekrets-cli: $1], got: $(cat "$T/err")"; }
: > "$T/empty"; chmod 600 "$T/empty"
expect 2 "" -- CLI unlock --passphrase-file "$T/empty"
one_line "unlock: empty passphrase"
expect 2 "" -- CLI unlock --passphrase-file "$T/no-such-pass"
one_line "unlock: cannot read the passphrase file $T/no-such-pass: no such file"
expect 2 "" -- CLI unlock --passphrase-fd 9
one_line "unlock: cannot read the passphrase from fd 9"
expect 2 "" -- CLI post 'bad/proto' x -F a=b
one_line "post: invalid protocol name: a protocol is 1..64 bytes of [A-Za-z0-9][A-Za-z0-9._-]*"
expect 2 "" -- CLI post p $'a\tb' -F a=b
one_line "post: invalid credential name: a name is 1..256 bytes of UTF-8 without control characters"
expect 2 "" -- CLI import "$T/pass1" -p 'bad/proto'
one_line "import: invalid protocol name: a protocol is 1..64 bytes of [A-Za-z0-9][A-Za-z0-9._-]*"
head -c 70000 /dev/zero | tr '\0' x > "$T/big"; head -c 40000 "$T/big" > "$T/half"
expect 2 "" -- CLI put p n -F "k=@$T/big"
one_line "put: $T/big is larger than a body may be (65536 bytes, 64 KiB)"
expect 2 "" -- CLI put p n -F "k=@$T/half" -F "j=@$T/half"
one_line "put: body is 80011 bytes packed; the limit is 65536 (64 KiB)"
expect 2 "" -- CLI put p n -F "k=@$T/no-such-file"
one_line "put: cannot read $T/no-such-file: no such file"
expect 0 '{"initialized":true,"locked":false}' -- sh -c "\"$SEKRETS_CLI\" status --json | sed 's/,\"version.*/}/'"
expect 0 "" -- CLI lock
expect 0 "already locked" -- CLI lock                      # the state asked for: no error
expect 4 "" -- CLI get x
[ "$(cat "$T/err")" = "sekrets-cli: get: x: hub is locked; unlock it with \`sekrets-cli unlock\`" ] ||
  fail "locked line: $(cat "$T/err")"
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
# passwd --rotate: a new passphrase and a new data key (a new key id in the hub's `keys`)
echo '{"password":"kept"}' | CLI post p kept || fail "post before passwd --rotate"
keyid() { od -An -tx1 -j25 -N8 "$T/hub/keys" | tr -d ' \n'; }
ID0=$(keyid)
expect 2 "" -- CLI unlock --rotate --passphrase-file "$T/pass2"
grep -q "^sekrets-cli: unlock: --rotate belongs to passwd" "$T/err" || fail "unlock --rotate: $(cat "$T/err")"
expect 0 "" -- CLI passwd --rotate --passphrase-file "$T/pass2" --new-passphrase-file "$T/pass1"
[ -n "$ID0" ] && [ "$(keyid)" != "$ID0" ] || fail "passwd --rotate kept the data key ($ID0)"
expect 0 "" -- CLI lock
expect 0 "" -- CLI unlock --passphrase-file "$T/pass1"
expect 0 "kept" -- CLI get kept -p p -f password
expect 0 "" -- sh -c "\"$SEKRETS_CLI\" --help | grep -q 'passwd .*\[--rotate\]'"
# a new passphrase under 8 bytes is refused unless --allow-weak, under 12 warned about;
# a passphrase file others can read is used, with a warning
printf 'short' > "$T/short"; chmod 600 "$T/short"
expect 2 "" -- CLI passwd --passphrase-file "$T/pass1" --new-passphrase-file "$T/short"
one_line "passwd: a passphrase of 5 bytes is too easy to guess from a copy of the hub: use at least 8 (or --allow-weak)"
expect 0 "" -- CLI passwd --allow-weak --passphrase-file "$T/pass1" --new-passphrase-file "$T/short"
one_line "passwd: warning: a passphrase of 5 bytes is weak; 12 or more (a few random words) resist guessing far better"
expect 2 "" -- CLI unlock --allow-weak --passphrase-file "$T/short"
grep -q "^sekrets-cli: unlock: --allow-weak belongs to init and passwd" "$T/err" || fail "unlock --allow-weak: $(cat "$T/err")"
cp "$T/pass1" "$T/open-pass"; chmod 644 "$T/open-pass"
expect 0 "" -- CLI passwd --passphrase-file "$T/short" --new-passphrase-file "$T/open-pass"
one_line "passwd: warning: passphrase file $T/open-pass is readable by everyone (mode 0644): chmod 600 it"
expect 0 "" -- CLI lock
expect 0 "" -- CLI unlock --passphrase-file "$T/pass1"
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
expect 2 "" -- CLI put s3 dan -F "pem=@$T/nonexistent"
expect 0 "" -- CLI post smtp bob -F password=mail
# -F with a body on stdin too: refused, never silently dropped
printf '{"password":"lost"}' > "$T/v"
expect 2 "" -- CLI put s3 erin -F a=b < "$T/v"                     # a file
grep -q "^sekrets-cli: put: a body on stdin and -F fields: give one or the other$" "$T/err" ||
    fail "-F and stdin: $(cat "$T/err")"
mkfifo "$T/inpipe"; exec 7<>"$T/inpipe"                             # a pipe we hold open
expect 0 "" -- CLI put s3 erin -F a=b < "$T/inpipe"                # silent: a warning
[ "$(cat "$T/err")" = "sekrets-cli: put: warning: stdin is not read (-F gives the body)" ] ||
    fail "silent stdin: $(cat "$T/err")"
printf '{"password":"lost"}' >&7
expect 2 "" -- CLI put s3 erin -F a=b < "$T/inpipe"                # with data in it
exec 7>&-
expect 0 "" -- CLI put s3 erin -F a=c < /dev/null                  # nothing there: quiet
[ -s "$T/err" ] && fail "put -F </dev/null said: $(cat "$T/err")"
expect 0 "" -- sh -c "true | \"$SEKRETS_CLI\" put s3 erin -F a=d"   # an empty pipe
expect 0 "d" -- CLI get erin -p s3 -f a
expect 0 "" -- CLI rm s3 erin
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
expect 0 "$(printf 's3\t2\nsmtp\t1')" -- CLI ls                     # ls: hub, or db with a PROTOCOL
expect 0 "$(printf 'alice\nbob')" -- CLI ls s3
expect 0 '{"protocol":"s3","names":["alice","bob"]}' -- CLI ls s3 --json
expect 2 "" -- CLI ls s3 smtp
expect 0 "$(printf 'usage: sekrets-cli ls [PROTOCOL] [--json]\n  list: the protocols (as hub), or a protocol'"'"'s names (as db)')" -- CLI help ls
expect 0 "" -- sh -c "\"$SEKRETS_CLI\" help | grep -q '^  export  \[-p\] PROTOCOL \[-o FILE\]$'"
expect 2 "" -- CLI help frobnicate
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
# import keeps the file's dates (no offset: UTC)
dates() { "$SEKRETS_CLI" get "$1" -p "$2" --json | grep -o '"created":[0-9]*,"modified":[0-9]*'; }
expect 0 '"created":1704067200,"modified":1704153600' -- dates 'zoë@example.com' gdrive2
expect 0 "t0k" -- CLI get second -p gdrive2 -f token
expect 0 "" -- sh -c "umask 022; \"$SEKRETS_CLI\" export -p gdrive2 -o '$T/out.gluedb'"
expect 0 "600" -- stat -c %a "$T/out.gluedb"                       # secrets in clear: owner-only
echo old > "$T/wide.gluedb"; chmod 644 "$T/wide.gluedb"
expect 0 "" -- CLI export -p gdrive2 -o "$T/wide.gluedb"
expect 0 "600" -- stat -c %a "$T/wide.gluedb"                      # an old file is narrowed too
expect 0 "" -- cmp "$T/out.gluedb" "$T/wide.gluedb"
expect 0 "" -- cmp <(CLI export gdrive2) "$T/out.gluedb"            # PROTOCOL as db takes it
expect 2 "" -- CLI export gdrive2 -p gdrive2
expect 2 "" -- CLI export -p gdrive2 -o "$T/no/such/dir/x.gluedb"   # the path given: input
one_line "export: cannot write $T/no/such/dir/x.gluedb: No such file or directory"
expect 0 "" -- CLI export -p gdrive2 -o /dev/null                 # not a regular file: as is
expect 0 "666" -- stat -c %a /dev/null
echo theirs > "$T/theirs.gluedb"; chmod 644 "$T/theirs.gluedb"
if [ "$(id -u)" = 0 ]; then
    chown 65534 "$T/theirs.gluedb"
    expect 2 "" -- CLI export -p gdrive2 -o "$T/theirs.gluedb"   # another user's file
    expect 0 "theirs" -- cat "$T/theirs.gluedb"                   # left as it was
fi
# a symlink is never followed (nor a dangling one created through), its target unchanged
echo mine > "$T/target"; ln -s "$T/target" "$T/link"; ln -s "$T/made-through-link" "$T/dangling"
expect 2 "" -- CLI export -p gdrive2 -o "$T/link"
[ "$(cat "$T/err")" = "sekrets-cli: export: cannot write $T/link: a symbolic link: not followed (give the file itself)" ] ||
    fail "symlink message: $(cat "$T/err")"
expect 0 "mine" -- cat "$T/target"
expect 2 "" -- CLI export -p gdrive2 -o "$T/dangling"
[ -e "$T/made-through-link" ] && fail "export created a file through a dangling symlink"
# a pipe of our own is written as is (its reader gets the export); the mode is untouched
mkfifo -m 644 "$T/ownfifo"
cat "$T/ownfifo" > "$T/fromfifo" &
CATPID=$!
expect 0 "" -- CLI export -p gdrive2 -o "$T/ownfifo"
wait $CATPID
expect 0 "" -- cmp "$T/out.gluedb" "$T/fromfifo"
expect 0 "644" -- stat -c %a "$T/ownfifo"
if [ "$(id -u)" = 0 ]; then
    # another user's pipe, with a reader waiting on it: refused, the reader gets nothing
    mkfifo -m 666 "$T/theirfifo"; chown 65534 "$T/theirfifo"
    cat "$T/theirfifo" > "$T/stolen" &
    CATPID=$!
    expect 2 "" -- CLI export -p gdrive2 -o "$T/theirfifo"
    grep -q "cannot write $T/theirfifo: belongs to uid 65534, not you: refused" "$T/err" ||
        fail "their fifo message: $(cat "$T/err")"
    # Lets the reader go if it still waits for a writer (O_RDWR does not block on a pipe).
    exec 9<>"$T/theirfifo"; exec 9>&-
    wait $CATPID
    expect 0 "0" -- stat -c %s "$T/stolen"
fi
expect 0 "imported 3 records into copy" -- CLI import "$T/out.gluedb" -p copy
expect 0 "" -- cmp <(CLI export -p gdrive2) <(CLI export -p copy)     # dates included
expect 0 "$(dates second gdrive2)" -- dates second copy               # a date set at import: kept
expect 0 '{"client_id":"id1","client_secret":"cs1","nested":{"a":{"b":[1,"x",null]}}}' -- sh -c "\"$SEKRETS_CLI\" get 'zoë@example.com' -p copy --json | sed 's/.*\"body\"://; s/}\$//'"
expect 0 '{"token":"t0k","n":2}' -- sh -c "\"$SEKRETS_CLI\" get second -p copy --json | sed 's/.*\"body\"://; s/}\$//'"
# every body put takes survives export -> import, not only maps (the model names its type)
i=0
for v in '"just-a-token"' '"{\"looks\": 1}"' 42 -7 1.5 true null '[1,"x",{"$bin":"AAE="}]' \
         '{"$bin":"AP8="}' '{"k":[]}'; do
    i=$((i + 1)); printf '%s\n' "$v" > "$T/v"
    expect 0 "" -- CLI put tok "t$i" < "$T/v"
done
CLI export -p tok > "$T/tok.gluedb"
expect 0 "2" -- grep -c '"model": "builtins.str"' "$T/tok.gluedb"
expect 0 "imported 10 records into tok2" -- CLI import "$T/tok.gluedb" -p tok2
body() { "$SEKRETS_CLI" get "$1" -p "$2" --json | sed 's/.*"body"://; s/}$//'; }
for n in $(CLI db tok); do
    expect 0 "$(body "$n" tok)" -- body "$n" tok2
done
expect 0 '"just-a-token"' -- body t1 tok2
expect 0 '"{\"looks\": 1}"' -- body t2 tok2
expect 0 "" -- cmp <(CLI export -p tok) <(CLI export -p tok2)
# after rm, the same export imported again gives the same dates back
CLI export -p copy > "$T/copy.gluedb"
for n in 'zoë@example.com' second 日本語; do expect 0 "" -- CLI rm copy "$n"; done
expect 0 "imported 3 records into copy" -- CLI import "$T/copy.gluedb" -p copy
expect 0 "" -- cmp <(CLI export -p copy) "$T/copy.gluedb"
# pyswark's own forms: a space for T, fractional seconds, an offset; read as UTC seconds
cat > "$T/tz.gluedb" <<'JSON'
{"model": "pyswark.gluedb.db.Db", "contents": {"records": [
 {"info": {"name": "tz", "date_created": "2024-05-01 14:00:00.123456+02:00", "date_modified": "2024-05-01T12:30:00.5Z"},
  "body": {"model": "builtins.dict", "contents": {"k": "v"}}}
]}}
JSON
expect 0 "imported 1 records into tz" -- CLI import "$T/tz.gluedb" -p tz
expect 0 '"created":1714564800,"modified":1714566600' -- dates tz tz
expect 0 '"date_created": "2024-05-01T12:00:00+00:00",' -- sh -c "\"\$SEKRETS_CLI\" export tz | grep -o '\"date_created\": .*'"
# a date that cannot be read refuses the whole file, naming the record
sed 's/"date_modified": "2024-05-01T12:30:00.5Z"/"date_modified": "2024-02-30T00:00:00Z"/' "$T/tz.gluedb" > "$T/tzbad.gluedb"
expect 2 "" -- CLI import "$T/tzbad.gluedb" -p tzbad
grep -q "record 1 (tz): info.date_modified is not a date" "$T/err" || fail "bad date message: $(cat "$T/err")"
expect 3 "" -- CLI db tzbad
# an as-is model whose contents are of another type refuses the file, naming both
sed 's/"builtins.dict", "contents": {"k": "v"}/"builtins.int", "contents": "{not json"/' "$T/tz.gluedb" > "$T/tzmodel.gluedb"
expect 2 "" -- CLI import "$T/tzmodel.gluedb" -p tzmodel
grep -qx "sekrets-cli: import: $T/tzmodel.gluedb: record 1: body.model is builtins.int but body.contents is a builtins.str; nothing imported" "$T/err" || fail "model mismatch message: $(cat "$T/err")"
expect 3 "" -- CLI db tzmodel
expect 7 "" -- CLI import "$T/in.gluedb" -p gdrive2              # clash: nothing written
HUB=$(CLI hub --json)
# Malformed: the third record's contents is a list. Nothing of it is written.
sed 's/"contents": {}}/"contents": [1]}/' "$T/in.gluedb" > "$T/bad.gluedb"
expect 2 "" -- CLI import "$T/bad.gluedb" -p fresh
grep -q "record 3" "$T/err" || fail "import error does not name record 3: $(cat "$T/err")"
expect 0 "$HUB" -- CLI hub --json
expect 3 "" -- CLI db fresh
expect 2 "" -- CLI import "$T/none.gluedb" -p fresh
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
grep -q "4097 bytes; a keyfile holds 32 to 4096 bytes" "$T/err" || fail "big keyfile message: $(cat "$T/err")"
[ "$(grep -c keyfile "$T/err")" = 1 ] || fail "one line for a refused keyfile: $(cat "$T/err")"
head -c 10 /dev/urandom > "$T/smallkey"; chmod 600 "$T/smallkey"   # the same range said
expect 5 "" -- "$SEKRETSD" --foreground --socket "$T/run/big.sock" --hub "$T/hub-small" --keyfile "$T/smallkey"
grep -q "10 bytes; a keyfile holds 32 to 4096 bytes" "$T/err" || fail "small keyfile message: $(cat "$T/err")"
[ "$(grep -c keyfile "$T/err")" = 1 ] || fail "one line for a small keyfile: $(cat "$T/err")"
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

# --- a daemon of another uid (a fake run as 65534) gets nothing: unlock sends no passphrase
FAKE=${2:?fake_foreign path}
if [ "$(id -u)" = 0 ]; then
    F=$(mktemp -d /tmp/skr-cli-foreign.XXXXXX)
    "$FAKE" 65534 "$F" > "$T/fake.out" &
    FPID=$!
    for _ in $(seq 200); do grep -q ready "$T/fake.out" && break; sleep 0.05; done
    expect 5 "" -- env SEKRETS_SOCKET="$F/s.sock" "$SEKRETS_CLI" unlock --passphrase-file "$T/pass1"
    [ "$(cat "$T/err")" = "sekrets-cli: unlock: daemon at $F/s.sock runs as uid 65534, not you (nothing was sent to it; SEKRETS_DAEMON_UID names a uid to trust)" ] ||
        fail "foreign daemon message: $(cat "$T/err")"
    wait $FPID
    expect 0 "ready
0" -- cat "$T/fake.out"                                       # it received 0 bytes
    expect 2 "" -- env SEKRETS_DAEMON_UID=nobody SEKRETS_SOCKET="$F/s.sock" "$SEKRETS_CLI" ping
    [ "$(cat "$T/err")" = "sekrets-cli: ping: SEKRETS_DAEMON_UID is not a uid (a decimal number)" ] ||
        fail "bad SEKRETS_DAEMON_UID message: $(cat "$T/err")"
    rm -rf "$F"
else
    fail "a daemon of another uid needs root to start"
fi

# --- prompts on a terminal (script(1) gives the CLI a pty): asked twice, never echoed
if command -v script >/dev/null; then
    mkdir -m 700 "$T/run3" "$T/hub3"
    export SEKRETS_SOCKET="$T/run3/s.sock"
    start "$SEKRETS_SOCKET" "$T/hub3"
    # two different passphrases, then Ctrl-D at the prompt: one line each, nothing initialised
    (sleep 1; printf 'one phrase\n'; sleep 1; printf 'another\n'; sleep 1) |
        script -qec "$SEKRETS_CLI init" /dev/null > "$T/tty0" 2>&1
    [ $? = 2 ] && grep -q "^sekrets-cli: init: the passphrases do not match.$" "$T/tty0" &&
        ! grep -q "usage:" "$T/tty0" || fail "passphrase mismatch: $(cat "$T/tty0")"
    (sleep 1; printf '\004'; sleep 1) | script -qec "$SEKRETS_CLI init" /dev/null > "$T/tty0" 2>&1
    [ $? = 2 ] && grep -q "^sekrets-cli: init: cancelled.$" "$T/tty0" ||
        fail "Ctrl-D at the prompt: $(cat "$T/tty0")"
    expect 0 "initialized: no" -- sh -c "\"$SEKRETS_CLI\" status | head -1"
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
