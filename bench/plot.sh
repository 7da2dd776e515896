#!/usr/bin/env bash
# plot.sh RESULTS.CSV OUT.PNG: latency (p50, p99; median over rounds) of the raw socket
# floor, sekretsd and redis GET at each load shape, from bench/run.sh's CSV.
set -euo pipefail
csv=$1 png=$2
dat=$(mktemp)
trap 'rm -f "$dat"' EXIT
# median of column $2 for rows whose label is $1
med() { awk -F, -v k="$1" -v c="$2" '$1 == k {print $c}' "$csv" | sort -g |
        awk '{v[NR] = $1} END {print (NR ? v[int((NR + 1) / 2)] : 0)}'; }
small=$(awk -F, '$1 ~ /^get_[0-9]+_1$/ {split($1, a, "_"); print a[2]}' "$csv" | sort -n | head -1)
big=$(awk -F, '$1 ~ /^get_[0-9]+_1$/ {split($1, a, "_"); print a[2]}' "$csv" | sort -n | tail -1)
for shape in 1 d64 c8 c64; do
  case $shape in 1) name="1 client" ;; d64) name="64 in flight" ;; c8) name="8 clients" ;; c64) name="64 clients" ;; esac
  printf '"%s" %s %s %s %s %s %s %s %s\n' "$name" \
    "$(med "floor_$shape" 5)" "$(med "get_${small}_$shape" 5)" "$(med "get_${big}_$shape" 5)" "$(med "redis_get_${big}_$shape" 5)" \
    "$(med "floor_$shape" 6)" "$(med "get_${small}_$shape" 6)" "$(med "get_${big}_$shape" 6)" "$(med "redis_get_${big}_$shape" 6)"
done > "$dat"
gnuplot <<GP
set terminal pngcairo size 1000,520 font ",10"
set output "$png"
set title "get latency by load shape (median of rounds; lower is better)"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set logscale y
set yrange [10:*]
set ylabel "microseconds (log scale)"
set key top left
plot "$dat" using 2:xtic(1) title "floor p50", "" using 3 title "sekretsd $small p50", \
     "" using 4 title "sekretsd $big p50", "" using 5 title "redis $big p50", \
     "" using 6 title "floor p99", "" using 7 title "sekretsd $small p99", \
     "" using 8 title "sekretsd $big p99", "" using 9 title "redis $big p99"
GP
