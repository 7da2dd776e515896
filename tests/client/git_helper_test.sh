#!/bin/bash
# tests/client/git_helper_test.sh HELPER - git-credential-sekrets against a real sekretsd,
# beyond what git's t0303 checks (tests/external): the fields newer gits send
# (password_expiry_utc, oauth_refresh_token), unknown keys and operations, host:port and
# path matching, erase by password, odd characters in names, bounded input, and the
# locked and unreachable hub. Needs $SEKRETSD and $SEKRETS_CLI.
set -u
H=$1
. "$(dirname "$0")/helper_lib.sh"
SECRETS=(pw-expiring refresh-tok pw-port pw-path pw-odd pw-new)
G() { "$H" "$@"; }
CLI() { SEKRETS_SOCKET=$SOCK "$SEKRETS_CLI" "$@"; }
export SEKRETS_SOCKET=$SOCK
nl=$'\n'

# --- usage, without a daemon
expect 0 "" "" -- sh -c "\"$H\" --help | grep -q 'helper = sekrets'"
expect 2 "" "" -- G
expect 2 "" "" -- G get extra
expect 2 "" "" -- G --bogus get
expect 0 "" "protocol=https${nl}host=x${nl}" -- G frobnicate      # unknown op: ignored
# no daemon: exit 1, the reason and how to start it on stderr, nothing on stdout
expect 1 "" "protocol=https${nl}host=x${nl}" -- G get
grep -q "cannot reach sekretsd at $SOCK.*start it with" "$T/err" || fail "unreachable: $(cat "$T/err")"

start
# --- nothing stored: a get prints nothing and succeeds; so does an erase
expect 0 "" "protocol=https${nl}host=example.com${nl}" -- G get
expect 0 "" "protocol=https${nl}host=example.com${nl}" -- G erase
# --- the newer fields are kept and given back; unknown keys ignored; CRLF lines accepted
expect 0 "" "protocol=https${nl}host=example.com${nl}username=ann${nl}password=pw-expiring${nl}password_expiry_utc=1999999999${nl}oauth_refresh_token=refresh-tok${nl}wwwauth[]=Basic realm=x${nl}capability[]=authtype${nl}" -- G store
expect 0 "username=ann${nl}password=pw-expiring${nl}password_expiry_utc=1999999999${nl}oauth_refresh_token=refresh-tok" \
    "protocol=https"$'\r\n'"host=example.com"$'\r\n'"unknown=1"$'\r\n' -- G get
# the record: one name that says what it is for, a body of every field
expect 0 "https://ann@example.com" "" -- CLI db git
expect 0 "https" "" -- CLI get "https://ann@example.com" -p git -f protocol
# input after the blank line is not read as fields
expect 0 "" "protocol=ftp${nl}${nl}protocol=https${nl}" -- G get
# --- host with port is another host
expect 0 "" "protocol=https${nl}host=example.com:8443${nl}username=ann${nl}password=pw-port${nl}" -- G store
expect 0 "username=ann${nl}password=pw-port" "protocol=https${nl}host=example.com:8443${nl}" -- G get
expect 0 "username=ann${nl}password=pw-expiring${nl}password_expiry_utc=1999999999${nl}oauth_refresh_token=refresh-tok" \
    "protocol=https${nl}host=example.com${nl}" -- G get
# --- a store without password, username or host keeps nothing (as git's credential-store)
expect 0 "" "protocol=https${nl}host=nopass.tld${nl}username=ann${nl}" -- G store
expect 0 "" "protocol=https${nl}username=ann${nl}password=x${nl}" -- G store
expect 0 "" "protocol=https${nl}host=nouser.tld${nl}password=x${nl}" -- G store
expect 0 "$(printf 'https://ann@example.com\nhttps://ann@example.com:8443')" "" -- CLI db git
# --- paths (credential.useHttpPath): an exact path, or any path when git sends none
expect 0 "" "protocol=https${nl}host=p.tld${nl}path=org/repo.git${nl}username=bo${nl}password=pw-path${nl}" -- G store
expect 0 "username=bo${nl}password=pw-path" "protocol=https${nl}host=p.tld${nl}path=org/repo.git${nl}" -- G get
expect 0 "" "protocol=https${nl}host=p.tld${nl}path=org/other.git${nl}" -- G get
expect 0 "username=bo${nl}password=pw-path" "protocol=https${nl}host=p.tld${nl}" -- G get
# --- odd characters round-trip through the name's encoding
odd_user='a@b/c:d%e é'
expect 0 "" "protocol=https${nl}host=odd.tld${nl}username=${odd_user}${nl}password=pw-odd${nl}" -- G store
expect 0 "username=${odd_user}${nl}password=pw-odd" "protocol=https${nl}host=odd.tld${nl}" -- G get
expect 0 "https://a%40b%2Fc%3Ad%25e%20%C3%A9@odd.tld" "" -- sh -c "SEKRETS_SOCKET=$SOCK \"$SEKRETS_CLI\" db git | grep odd"
# --- a store of the same protocol/host/path/username replaces it
expect 0 "" "protocol=https${nl}host=odd.tld${nl}username=${odd_user}${nl}password=pw-new${nl}" -- G store
expect 0 "username=${odd_user}${nl}password=pw-new" "protocol=https${nl}host=odd.tld${nl}" -- G get
expect 0 "1" "" -- sh -c "SEKRETS_SOCKET=$SOCK \"$SEKRETS_CLI\" db git | grep -c odd"
# --- erase: a password that differs leaves the record; the same one, or none, erases
expect 0 "" "protocol=https${nl}host=odd.tld${nl}password=pw-odd${nl}" -- G erase
expect 0 "username=${odd_user}${nl}password=pw-new" "protocol=https${nl}host=odd.tld${nl}" -- G get
expect 0 "" "protocol=https${nl}host=odd.tld${nl}password=pw-new${nl}" -- G erase
expect 0 "" "protocol=https${nl}host=odd.tld${nl}" -- G get
# an empty pattern erases nothing
expect 0 "" "unknown=1${nl}" -- G erase
expect 0 "3" "" -- sh -c "SEKRETS_SOCKET=$SOCK \"$SEKRETS_CLI\" db git | wc -l"
# --- another hub protocol with --protocol, and the socket with --socket
expect 0 "" "protocol=https${nl}host=w.tld${nl}username=u${nl}password=pw-new${nl}" -- \
    env -u SEKRETS_SOCKET "$H" --socket "$SOCK" --protocol work store
expect 0 "https://u@w.tld" "" -- CLI db work
expect 0 "" "protocol=https${nl}host=w.tld${nl}" -- G get
expect 2 "" "protocol=https${nl}host=w.tld${nl}username=u${nl}password=x${nl}" -- G --protocol 'bad/name' store
expect 2 "" "protocol=https${nl}host=w.tld${nl}" -- G --protocol 'bad/name' get
grep -q "not a sekrets protocol name" "$T/err" || fail "bad protocol: $(cat "$T/err")"
# --- bounded input: more than 64 KiB is refused before anything is sent
big=$(head -c 70000 /dev/zero | tr '\0' a)
expect 2 "" "protocol=https${nl}host=big.tld${nl}username=u${nl}password=${big}${nl}" -- G store
grep -q "larger than 64 KiB" "$T/err" || fail "big input: $(cat "$T/err")"
# a name beyond 256 bytes once encoded: refused with a reason
long=$(head -c 250 /dev/zero | tr '\0' h)
expect 2 "" "protocol=https${nl}host=${long}${nl}username=u${nl}password=x${nl}" -- G store
grep -q "more than 256 bytes" "$T/err" || fail "long name: $(cat "$T/err")"
# --- the locked hub: exit 1 and how to unlock, on every operation
CLI lock
for op in get store erase; do
    expect 1 "" "protocol=https${nl}host=example.com${nl}username=ann${nl}password=x${nl}" -- G $op
    grep -q "hub is locked: unlock it with \`sekrets-cli unlock\`" "$T/err" || fail "locked $op: $(cat "$T/err")"
done
done_tests git-credential-sekrets
