#!/usr/bin/env bash
# The store's layers (daemon/store/README.md): which file may include which store header,
# and which layer's state (struct store's members) a file may read.
# Fails on an include that goes up a layer or sideways (between crypto and folder, or
# between two layers' headers of one rank), on a header that includes store_hub.h, on a
# file of daemon/store this table does not place, on a line of the crypto layer that
# names a store, LMDB or a file call, on a file that reads the state of a layer above its
# own (s->mir, s->recs, s->hk) beyond the crossings listed below, on a file that calls a
# function declared in the header of a layer above (or beside) its own, on a kv or cache
# file that calls a layer above by name or includes store_hub.h; and on README.md's
# include table when it is not what the files include.
# Usage: store_layers.sh [DIR (daemon/store)]
set -u
dir=${1:-$(cd "$(dirname "$0")/../../daemon/store" && pwd)}
declare -A layer=(
  [store.h]=api [store_test.h]=api [store_hub.h]=hub
  [store_crypto.h]=crypto [store_crypto.c]=crypto
  [store_folder.h]=folder [store_folder.c]=folder
  [store_kv.h]=kv [store_lmdb.c]=kv [store_batch.c]=kv [store_journal.c]=kv [store_jwrite.c]=kv [store_ckpt.c]=kv [store_trim.c]=kv
  [store_cache.h]=cache [store_mirror.c]=cache [store_mirror_build.c]=cache
  [store_records.h]=records [store.c]=records [store_list.c]=records [store_format.c]=records
  [store_keys.h]=keys [store_keys.c]=keys [store_ring.c]=keys [store_rotate.c]=keys
  [store_upgrade.c]=keys [store_keyfile.c]=keys [store_hub.c]=keys [store_api.c]=keys
)
# api: the module's public header and the test hooks, which any file may include.
# hub: struct store, every layer's state side by side (store_hub.h): any .c file may
# include it to reach its own layer's state; no header may (it would carry every layer's
# declarations down). What a file may read of struct store is checked below.
declare -A rank=([api]=0 [crypto]=1 [folder]=1 [kv]=2 [cache]=3 [records]=4 [keys]=5)
# The state each layer owns in struct store, and the layers whose state a file may read:
# its own and those below it.
declare -A owns=([kv]=kv [cache]=mir [records]=recs [keys]=hk)
# Crossings that are still there, each with what removes it (README.md): FILE:HEADER for
# an include, FILE:s->MEMBER.FIELD for a read of a layer above.
declare -A crossing=(
  # none today: the records' sealing key is the records' state (s->recs.keys), which the
  # keys layer above sets
)
bad=0
say() { echo "store_layers: $*"; bad=1; }
shopt -s nullglob
files=("$dir"/*.c "$dir"/*.h)
[ ${#files[@]} -gt 0 ] || { echo "store_layers: no sources in $dir"; exit 1; }
for path in "${files[@]}"; do
  f=$(basename "$path")
  l=${layer[$f]:-}
  [ -n "$l" ] || { say "$f: not placed in a layer (add it to tests/unit/store_layers.sh)"; continue; }
  while IFS= read -r h; do
    m=${layer[$h]:-}
    [ -n "$m" ] || { say "$f includes $h, which is not placed in a layer"; continue; }
    if [ "$m" = hub ]; then
      case $f in *.h) say "$f includes $h: only .c files may (struct store)";; esac
      continue
    fi
    [ "$m" = api ] || [ "$m" = "$l" ] || { [ "$l" != hub ] && [ "${rank[$m]}" -lt "${rank[$l]}" ]; } ||
      [ "$l" = hub ] || [ -n "${crossing[$f:$h]:-}" ] || say "$f ($l) includes $h ($m): a layer above it"
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\(store[a-z_]*\.h\)".*/\1/p' "$path")
  if [ "$l" = crypto ] || [ "$l" = folder ] || [ "$l" = api ]; then
    if [ "$l" = crypto ]; then
      grep -nE 'MDB_|lmdb\.h|\bstore \*|struct store\b|\b(open|openat|read|write|pread|pwrite|fopen|fstat|stat|close|unlink|rename)\(' \
        "$path" | while IFS= read -r line; do echo "store_layers: $f:$line: not pure"; done | grep . &&
        bad=1
    fi
    continue
  fi
  [ "$l" = hub ] && continue
  case $f in *.h) continue;; esac # a header declares; its comments may name a member
  # The state of the layers above this file's own: s->MEMBER.FIELD with MEMBER theirs.
  for above in "${!owns[@]}"; do
    [ "${rank[$above]}" -gt "${rank[$l]}" ] || continue
    while IFS= read -r use; do
      [ -n "${crossing[$f:$use]:-}" ] || say "$f ($l) reads $use: the state of $above, a layer above it"
    done < <(grep -oE "\bs->${owns[$above]}\.[a-z_]+" "$path" | sort -u)
  done
done
# kv (LMDB, journal, checkpoints) and cache (the mirror) call nothing of the layers above
# by name: what kv must tell them goes through the s->kv.batch_durable pointer, the
# records layer feeds the cache, and the build asks records of ord through the function
# its caller hands it (store_mirror_ord_fn) (README.md).
above_kv='\bstore_((mirror|format|meta|ring|rec|ord|proto|upgrade|rotate)_[a-z_]*|lock|unlock|release)\('
above_cache='\bstore_((format|meta|ring|rec|ord|proto|upgrade|rotate)_[a-z_]*|lock|unlock|release)\('
for f in store_lmdb.c store_batch.c store_journal.c store_jwrite.c store_ckpt.c store_trim.c store_mirror.c store_mirror_build.c; do
  [ -f "$dir/$f" ] || continue
  re=$above_kv; [ "${layer[$f]}" = cache ] && re=$above_cache
  grep -nE "$re" "$dir/$f" | while IFS= read -r line; do
    echo "store_layers: $f:$line: ${layer[$f]} calls a layer above"
  done | grep . && bad=1
done
# No file calls a function that a header of a layer above its own (or beside it) declares:
# the names are read from the headers' declarations, so a new one is checked too.
declare -A declared=()
for h in "${!layer[@]}"; do
  case $h in *.h) ;; *) continue;; esac
  [ -f "$dir/$h" ] || continue
  case ${layer[$h]} in api|hub) continue;; esac
  declared[$h]=$(sed -nE 's/^[a-z][a-z0-9_ ]*[ *](store_[a-z0-9_]+)\(.*/\1/p' "$dir/$h" | sort -u | paste -sd '|' -)
done
for path in "$dir"/*.c; do
  f=$(basename "$path")
  l=${layer[$f]:-}
  [ -n "$l" ] || continue
  for h in "${!declared[@]}"; do
    m=${layer[$h]}
    [ "$m" != "$l" ] && [ "${rank[$m]}" -ge "${rank[$l]}" ] && [ -n "${declared[$h]}" ] || continue
    grep -nE "\b(${declared[$h]})\(" "$path" | while IFS= read -r line; do
      echo "store_layers: $f:$line: $l calls $m (declared in $h)"
    done | grep . && bad=1
  done
done
# kv's and cache's files take their own state (store_kv *, store_mirror *), not struct
# store: none includes store_hub.h.
for f in store_lmdb.c store_batch.c store_journal.c store_jwrite.c store_ckpt.c store_trim.c \
         store_mirror.c store_mirror_build.c; do
  [ -f "$dir/$f" ] || continue
  grep -q '^[[:space:]]*#[[:space:]]*include[[:space:]]*"store_hub.h"' "$dir/$f" &&
    say "$f (${layer[$f]}) includes store_hub.h: its functions take their layer's state, not struct store"
done
# README.md's include table (the one the issue's closing note shows) is what the files
# include: each file of the folder in one row, with exactly its store headers.
readme=$dir/README.md
if [ -f "$readme" ]; then
  declare -A listed=()
  while IFS='|' read -r _ names headers _; do
    want=$(echo "$headers" | tr -d ' ' | tr ',' '\n' | sort | paste -sd ' ' -)
    for f in $(echo "$names" | tr ',' ' '); do
      [ -z "${listed[$f]:-}" ] || say "README.md: $f is in two rows of the include table"
      listed[$f]=1
      [ -f "$dir/$f" ] || { say "README.md: the include table names $f, which is not here"; continue; }
      got=$(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\(store[a-z_]*\.h\)".*/\1/p' "$dir/$f" |
            sort -u | paste -sd ' ' -)
      [ "$got" = "$want" ] || say "README.md: $f includes ${got:-nothing}, the include table says ${want:-nothing}"
    done
  done < <(awk '/^## Who includes which store header/ { on = 1; next }
                on && /^\|/ { rows = 1; if ($0 ~ /^\| store/) print; next }
                on && rows { exit }' "$readme")
  for path in "${files[@]}"; do
    f=$(basename "$path")
    [ "$f" = store.h ] || [ -n "${listed[$f]:-}" ] || say "README.md: $f is not in the include table"
  done
fi
exit $bad
