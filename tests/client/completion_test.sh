#!/usr/bin/env bash
# tests/client/completion_test.sh COMPLETION_FILE - the bash completion of sekrets-cli
# against a real daemon: commands, options per command, protocols and the names of the
# protocol given (also names with a space), and --socket on the command line followed.
set -u
: "${SEKRETSD:?}" "${SEKRETS_CLI:?}"
COMPLETION=$1
BC=/usr/share/bash-completion/bash_completion
[ -r "$BC" ] || { echo "bash-completion is not installed ($BC): apt-get install bash-completion"; exit 1; }
T=$(mktemp -d /tmp/skr-compl.XXXXXX)
chmod 700 "$T"
DPID=
trap '[ -n "$DPID" ] && kill "$DPID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"' EXIT
mkdir -m 700 "$T/run" "$T/bin"
ln -s "$SEKRETS_CLI" "$T/bin/sekrets-cli"
head -c 32 /dev/urandom > "$T/key"; chmod 600 "$T/key"
"$SEKRETSD" --foreground --socket "$T/run/s.sock" --hub "$T/hub" --keyfile "$T/key" 2>"$T/log" &
DPID=$!
export PATH="$T/bin:$PATH" SEKRETS_SOCKET="$T/run/s.sock"
for _ in $(seq 200); do sekrets-cli ping >/dev/null 2>&1 && break; sleep 0.05; done
for c in "gdrive2 alice@example.com" "gdrive2 albert" "s3 backup-bot"; do
  echo '{"k": "v"}' | sekrets-cli put $c >/dev/null || { echo "put $c failed"; exit 1; }
done
echo '{"k": "v"}' | sekrets-cli put gdrive2 "al space" >/dev/null

# shellcheck disable=SC1090
source "$BC"
source "$COMPLETION"
fails=0
# check EXPECTED WORDS...: completes the last word of WORDS, compares COMPREPLY (sorted)
check() {
  local want=$1
  shift
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMP_LINE="$*"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _sekrets_cli sekrets-cli "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
  local got
  got=$(printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//')
  if [ "$got" != "$want" ]; then
    echo "FAIL: [$*] gave [$got], want [$want]"
    fails=$((fails + 1))
  fi
}
check "lock ls" sekrets-cli l
check "help hub" sekrets-cli h
check "--keyfile" sekrets-cli unlock --k
check "--keyfile" sekrets-cli passwd --k
check "--rotate" sekrets-cli passwd --r
check "gdrive2" sekrets-cli rm g
check "s3" sekrets-cli db s
check "gdrive2 s3" sekrets-cli ls ""
check 'al\ space albert alice@example.com' sekrets-cli rm gdrive2 al
check "alice@example.com" sekrets-cli rm gdrive2 ali
check "backup-bot" sekrets-cli get -p s3 b
check 'al\ space albert alice@example.com' sekrets-cli get -p gdrive2 -f k al
check "" sekrets-cli get al                  # no protocol given: no names guessed
check "" sekrets-cli rm gdrive2 albert ""    # both arguments given
check "gdrive2 s3" sekrets-cli put ""
check "albert" sekrets-cli put gdrive2 alb    # put replaces: existing names offered
check "" sekrets-cli post gdrive2 alb         # post makes a new one: none offered
check "gdrive2" sekrets-cli export g
check "-o -p" sekrets-cli export -
check "lock" sekrets-cli help lo
# --socket on the command line is the daemon asked; a dead socket offers nothing
unset SEKRETS_SOCKET
check "gdrive2" sekrets-cli --socket "$T/run/s.sock" rm g
check "" sekrets-cli --socket "$T/run/none.sock" rm g
[ "$fails" -eq 0 ] || { echo "$fails completion checks failed"; exit 1; }
echo "completion ok (22 checks)"
