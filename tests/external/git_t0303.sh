#!/bin/bash
# tests/external/git_t0303.sh HELPER - git's own t0303-credential-external.sh against
# git-credential-sekrets and a real sekretsd. git is built from Debian's source package
# (git_build.sh, cached between runs); nothing of git's is kept in this repository.
# Every case must pass; the totals are printed. Needs $SEKRETSD and $SEKRETS_CLI.
set -u
HELPER=$1
HERE=$(cd "$(dirname "$0")" && pwd)
GIT_DIR_=$("$HERE/git_build.sh") || { echo "FAIL: no git to run t0303 with (see above)"; exit 1; }
. "$HERE/../client/helper_lib.sh"
start
mkdir -m 700 "$T/bin" "$T/out"
# git runs `git-credential-sekrets` for helper `sekrets`: the built one first on PATH
ln -s "$(realpath "$HELPER")" "$T/bin/git-credential-sekrets"
export PATH="$T/bin:$PATH"
# test-lib.sh keeps the environment's non-GIT_ variables; the setup hook says it anyway
export SEKRETS_SOCKET=$SOCK TEST_OUTPUT_DIRECTORY=$T/out
# test-lib preloads glibc's malloc checker, which a sanitized helper refuses to run under
ldd "$HELPER" | grep -q libasan && export TEST_NO_MALLOC_CHECK=1
make -C "$GIT_DIR_/t" --no-print-directory GIT_TEST_CREDENTIAL_HELPER=sekrets \
    GIT_TEST_CREDENTIAL_HELPER_SETUP="export SEKRETS_SOCKET='$SOCK'" \
    GIT_TEST_OPTS="--verbose --root=$T/trash" t0303-credential-external.sh >"$T/t0303.log" 2>&1
rc=$?
cat "$T/t0303.log"
# test-lib prints "ok N - ..." per case and "# passed all N test(s)" when none failed
PASSED=$(grep -c '^ok ' "$T/t0303.log")
FAILED=$(grep -c '^not ok ' "$T/t0303.log")
echo "t0303-credential-external: $PASSED passed, $FAILED failed (exit $rc)"
[ "$rc" -eq 0 ] && [ "$FAILED" -eq 0 ] && [ "$PASSED" -ge 12 ] &&
    grep -q '^# passed all' "$T/t0303.log" || { echo "FAIL: t0303"; exit 1; }
# the daemon's log names what was served, never a password
SECRETS=(store-pass pass1 pass2 askpass-password)
done_tests t0303
