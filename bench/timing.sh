# Sourced by bench/cold.sh and bench/peers.sh: wall time of one command, and the median of numbers on stdin.
now_us() { echo $(($(date +%s%N) / 1000)); }
# time_ms CMD...: runs CMD (output discarded) and prints its wall time in ms, to 0.1 ms.
time_ms() {
  local s
  s=$(now_us)
  "$@" >/dev/null
  awk -v d=$(($(now_us) - s)) 'BEGIN { printf "%.1f\n", d / 1000 }'
}
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
