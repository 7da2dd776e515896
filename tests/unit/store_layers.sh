#!/usr/bin/env bash
# The store's layers (daemon/store/README.md): which file may include which store header.
# Fails on an include that goes up a layer (or sideways, between crypto and folder), on a
# file of daemon/store this table does not place, on a line of the crypto layer that
# names a store, LMDB or a file call, and on a kv file that calls a layer above by name.
# Usage: store_layers.sh [DIR (daemon/store)]
set -u
dir=${1:-$(cd "$(dirname "$0")/../../daemon/store" && pwd)}
declare -A layer=(
  [store.h]=api [store_test.h]=api
  [store_crypto.h]=crypto [store_crypto.c]=crypto
  [store_folder.h]=folder [store_folder.c]=folder
  [store_int.h]=int [store.c]=int [store_format.c]=int [store_journal.c]=int
  [store_list.c]=int [store_lmdb.c]=int [store_mirror.c]=int [store_mirror_build.c]=int
  [store_trim.c]=int [store_ckpt.c]=int
  [store_keys.h]=keys [store_keys.c]=keys [store_ring.c]=keys [store_rotate.c]=keys
  [store_upgrade.c]=keys [store_keyfile.c]=keys [store_hub.c]=keys
)
# api: the module's public header and the test hooks, which any file may include.
declare -A rank=([api]=0 [crypto]=1 [folder]=1 [int]=2 [keys]=3)
# Crossings that are still there, each with what removes it (README.md).
declare -A crossing=(
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
    [ "$m" = api ] || [ "$m" = "$l" ] || [ "${rank[$m]}" -lt "${rank[$l]}" ] ||
      [ -n "${crossing[$f:$h]:-}" ] || say "$f ($l) includes $h ($m): a layer above it"
  done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\(store[a-z_]*\.h\)".*/\1/p' "$path")
  if [ "$l" = crypto ]; then
    grep -nE 'MDB_|lmdb\.h|\bstore \*|struct store\b|\b(open|openat|read|write|pread|pwrite|fopen|fstat|stat|close|unlink|rename)\(' \
      "$path" | while IFS= read -r line; do echo "store_layers: $f:$line: not pure"; done | grep . &&
      bad=1
  fi
done
# kv (LMDB, journal, checkpoints) calls nothing of the cache, records or keys by name: what
# it must tell the layers above goes through the s->batch_durable pointer (README.md).
for f in store_lmdb.c store_journal.c store_ckpt.c store_trim.c; do
  [ -f "$dir/$f" ] || continue
  grep -nE '\bstore_((mirror|format|meta|ring|rec|ord|proto|upgrade|rotate)_[a-z_]*|lock|unlock|release)\(' \
    "$dir/$f" | while IFS= read -r line; do echo "store_layers: $f:$line: kv calls a layer above"; done |
    grep . && bad=1
done
exit $bad
