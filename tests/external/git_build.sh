#!/bin/bash
# tests/external/git_build.sh - prints the folder of a git built from Debian's source
# package, ready to run git's own test suite (t/). The build is cached in
# $SEKRETS_TEST_CACHE (default /var/cache/sekrets-tests), one folder per source version:
# a run after the first reuses it and costs no build. When the source cannot be had, it
# says why and fails (exit 1): the suite never skips silently.
set -euo pipefail
CACHE=${SEKRETS_TEST_CACHE:-/var/cache/sekrets-tests}
SRC_LIST=/etc/apt/sources.list.d/sekrets-tests-src.sources
# Only what t/ needs: git itself, test-tool, the templates and the bin-wrappers.
# Unoptimised and without debug info: half the compile time, and t0303 runs in seconds anyway.
MAKEFLAGS_GIT=(NO_TCLTK=1 NO_GETTEXT=1 NO_PERL=1 NO_PYTHON=1 NO_CURL=1 NO_EXPAT=1
               NO_OPENSSL=1 "CFLAGS=-O0 -w")
die() { echo "git_build: $*" >&2; exit 1; }

# The deb-src entry beside the system's deb822 file (same URIs, suites, components).
ensure_deb_src() {
    if apt-cache showsrc --only-source git 2>/dev/null | grep -q '^Version:'; then return 0; fi
    [ "$(id -u)" -eq 0 ] || die "no deb-src entry for git and not root: add one (Types: deb-src) to /etc/apt/sources.list.d and run apt-get update"
    local sys=/etc/apt/sources.list.d/debian.sources
    [ -f "$sys" ] || die "cannot find $sys to copy a deb-src entry from"
    # the first stanza of the system file (the main archive), as deb-src
    awk 'BEGIN{RS=""; ORS="\n\n"} NR==1 {sub(/Types: deb/, "Types: deb-src"); print}' "$sys" > "$SRC_LIST"
    apt-get update -qq >/dev/null 2>&1 || die "apt-get update failed: the Debian archive cannot be reached"
    apt-cache showsrc --only-source git 2>/dev/null | grep -q '^Version:' ||
        die "the Debian archive serves no source for git"
}

ensure_deb_src
VERSION=$(apt-cache showsrc --only-source git | awk '/^Version:/ {print $2}' | sort -V | tail -1)
# keyed by the source version and by how it is built
DIR=$CACHE/git-${VERSION//:/_}-$(printf '%s\n' "${MAKEFLAGS_GIT[@]}" | md5sum | cut -c1-8)
if [ -f "$DIR/.sekrets-built" ]; then
    echo "$DIR"; exit 0
fi
command -v dpkg-source >/dev/null || die "dpkg-source missing: apt-get install dpkg-dev"
mkdir -p "$CACHE"
# one build at a time (two build folders may run the suite at once); the marker is written
# last, so a build cut short is redone, never used
exec 9>"$CACHE/.git-build.lock"
flock 9
if [ -f "$DIR/.sekrets-built" ]; then echo "$DIR"; exit 0; fi
# git's build writes absolute paths (bin-wrappers, GIT-BUILD-OPTIONS): build in place
rm -rf "$DIR" "$DIR.src"
mkdir -p "$DIR.src"
(cd "$DIR.src" && apt-get source -qq "git=$VERSION" >/dev/null 2>&1) ||
    { rm -rf "$DIR.src"; die "apt-get source git=$VERSION failed: the Debian archive cannot be reached"; }
SRC=$(find "$DIR.src" -mindepth 1 -maxdepth 1 -type d -name 'git-*' | head -1)
[ -n "$SRC" ] || die "apt-get source git gave no source folder"
mv "$SRC" "$DIR"
rm -rf "$DIR.src"
echo "git_build: building git $VERSION in $DIR (first run only)" >&2
{ make -C "$DIR" -j"$(nproc)" "${MAKEFLAGS_GIT[@]}" git t/helper/test-tool \
      bin-wrappers/git bin-wrappers/test-tool GIT-BUILD-OPTIONS &&
  make -C "$DIR/templates" SHELL_PATH=/bin/sh PERL_PATH=/usr/bin/perl; } >"$DIR/.make.log" 2>&1 ||
    { tail -20 "$DIR/.make.log" >&2; die "building git failed (log: $DIR/.make.log)"; }
touch "$DIR/.sekrets-built"
echo "$DIR"
