#!/usr/bin/env bash
# Regenerate the README's performance table: the JSON parse floor, replay of a realistic day, a
# dense hour over 1,000 and over 1M keys, an alert storm, and the live daemon's latency at 20,000
# and 100,000 events/s, each with its command, events/s, CPU and memory, and replay's ratio to the
# floor measured in the same run. Prints a Markdown table on stdout (progress on stderr).
#
#   bash benches/perf.sh > /tmp/perf.md        # about 10 minutes on 2 cores; corpora need ~9 GB
#
# PERF_DIR (default /tmp/bypassd-perf) holds the generated corpora between runs. Needs GNU time
# (/usr/bin/time, Debian package `time`).
set -euo pipefail
shopt -s inherit_errexit
cd "$(dirname "$0")/.."
dir=${PERF_DIR:-/tmp/bypassd-perf}
mkdir -p "$dir"
log() { echo "--- $*" >&2; }

log "build"
cargo build --release --locked --bin bypassd --example gencorpus --example floor >&2
bin=target/release/bypassd

corpus() { # name, gencorpus arguments...
  local f="$dir/$1.jsonl"
  shift
  if [ ! -s "$f" ]; then
    log "generate $f"
    target/release/examples/gencorpus "$@" > "$f.tmp"
    mv "$f.tmp" "$f"
  fi
  echo "$f"
}
day=$(corpus day 1000000)
dense1k=$(corpus dense-1k 3000000 dense 1000)
dense1m=$(corpus dense-1m 3000000 dense 1000000)
storm=$(corpus storm-1m 3000000 storm 1000000)

# the floor is the best of three runs (the machines vary by up to 20% between runs)
log "parse floor"
floor=0
for _ in 1 2 3; do
  f=$(target/release/examples/floor "$day" | sed -nE 's/.*: ([0-9]+) lines\/s.*/\1/p')
  case "$f" in '' | *[!0-9]*) echo "floor: unexpected output" >&2; exit 1 ;; esac
  if [ "$f" -gt "$floor" ]; then floor=$f; fi
done

# replay NAME FILE: one row; events/s from the summary, CPU and RSS from GNU time
replay() {
  log "replay $1"
  local err="$dir/$1.err"
  if ! /usr/bin/time -f 'TIME %e %U %S %M' "$bin" replay --quiet "$2" > /dev/null 2> "$err"; then
    echo "replay of $2 failed: see $err" >&2
    exit 1
  fi
  local eps findings wall user sys rss
  eps=$(sed -nE 's/.*\(([0-9]+) events\/s.*/\1/p' "$err" | head -1)
  findings=$(sed -nE 's/^  findings: ([0-9]+).*/\1/p' "$err")
  read -r wall user sys rss < <(sed -nE 's/^TIME //p' "$err")
  if [ -z "$eps" ] || [ -z "$wall" ]; then
    echo "cannot read the summary of $2: see $err" >&2
    exit 1
  fi
  awk -v n="$1" -v f="$2" -v e="$eps" -v fl="$floor" -v w="$wall" -v u="$user" -v s="$sys" \
    -v r="$rss" -v k="$findings" 'BEGIN {
      cores = (u + s) / w
      printf "| %s | `bypassd replay %s` | %d | %.2f | %.2f | %.2f | %.0f MB | %d |\n",
        n, f, e, e / fl, cores, e / cores / fl, r / 1024, k
    }'
}

# the realistic day: the median of three runs
day_rows=$(for i in 1 2 3; do replay "realistic day, 1M records" "$day"; done | sort -t'|' -k4 -n)
rows=$(
  echo "$day_rows" | sed -n 2p
  replay "dense hour, 3M records, 1,000 keys" "$dense1k"
  replay "dense hour, 3M records, 1M keys" "$dense1m"
  replay "alert storm, 3M records, 1M keys raising" "$storm"
)
# memory per tracked key: the two dense hours differ only in their keys (1M against 1,000)
mb() { echo "$rows" | grep -F "| $1 |" | awk -F'|' '{gsub(/[ MB]/, "", $8); print $8}'; }
per_key=$(awk -v a="$(mb 'dense hour, 3M records, 1M keys')" -v b="$(mb 'dense hour, 3M records, 1,000 keys')" \
  'BEGIN { printf "%.0f", (a - b) * 1024 * 1024 / 999000 }')

latency() { # events/s
  log "latency at $1 events/s"
  cargo bench --locked --bench latency -- "$1" 10 2> "$dir/latency-$1.err" \
    | sed -nE 's/.*p99 ([0-9.]+) ms.*/\1/p' || true
}
lat20=$(latency 20000)
lat100=$(latency 100000)

log "kafka (tansu)"
kafka=$(cargo bench --locked --bench kafka -- 300000 2 2>&1 \
  | grep -E "^(consumed|producer|SKIPPED|timed out)" || true)

cat <<EOF
Measured $(date -u +%Y-%m-%d) on $(nproc) cores ($(sed -nE 's/^model name\s*: //p' /proc/cpuinfo | head -1)) by \`bash benches/perf.sh\`. The parse floor (\`cargo run --release --example floor -- FILE\`: one
thread deserialising the identity fields of each line, nothing else; best of three runs) ran at
**$floor lines/s** on the realistic day; ratios are to it, per CPU-second is events/s divided by
cores used. The realistic day is the median of three runs, the others one run each.

| run | command | events/s | × floor | cores | × floor per CPU-s | max RSS | findings |
| --- | --- | --- | --- | --- | --- | --- | --- |
$rows

Memory per tracked key over all default detectors (the dense hour over 1M keys minus the one
over 1,000, divided by the 999,000 extra keys): **$per_key bytes**.

Live daemon, append to finding on stdout (\`cargo bench --bench latency -- RATE 10\`): p99
**$lat20 ms** at 20,000 events/s, **$lat100 ms** at 100,000 events/s.

Live daemon on a tansu topic of 300,000 realistic records, 2 partitions
(\`cargo bench --bench kafka -- 300000 2\`):

\`\`\`
$kafka
\`\`\`
EOF
