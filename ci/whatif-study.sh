#!/usr/bin/env bash
# The paper's what-if studies (§6, Fig. 13 and 14) with the builtin sidecar on this machine:
# profiles of the builtin sidecar with a TCP-loopback upstream (base), a Unix-domain-socket
# upstream, and MSG_ZEROCOPY writes; each change turned into a speedup profile at 100 B and
# 4 KB; each applied with `analyze` to a synthetic Alibaba-shaped trace. Prints, per change and
# size, the trace's latency and CPU overhead before and after.
#
#   sudo ci/whatif-study.sh [GRAPHS=100000]
#
# Needs root (the eBPF probe). Profiles take about a minute each; run on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
graphs=${1:-100000}
cargo build --release --locked -q
bin=target/release/cargo-meshinsight
out=$(mktemp -d)
common=(--sidecar builtin --modes tcp,http --sizes 100,2000,4000 --rates 50 --repeat 3)
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" profile -q "${common[@]}" -o "$out/base.json" --format json >/dev/null
"$bin" profile -q "${common[@]}" --upstream uds -o "$out/uds.json" --format json >/dev/null
"$bin" profile -q "${common[@]}" --zerocopy -o "$out/zerocopy.json" --format json >/dev/null
echo "load after profiling: $(cut -d' ' -f1-3 /proc/loadavg)"
"$bin" generate -q --graphs "$graphs" --seed 1 --clean -o "$out/trace"
for change in uds zerocopy; do
  for size in 100 4000; do
    "$bin" speedup -q --base "$out/base.json" --variant "$out/$change.json" --size "$size" \
      --name "$change" -o "$out/$change-$size.toml" >/dev/null
    "$bin" analyze -q --traces "$out/trace" --profile "$out/base.json" --config tcp --config http \
      --size "$size" --speedup "$out/$change-$size.toml" --format json >"$out/analyze-$change-$size.json"
  done
done
python3 - "$out" <<'PY'
import json, sys
out = sys.argv[1]
print(f"{'change':9} {'size':>5} {'config':6} {'latency mean µs':>22} {'p99 µs':>20} {'CPU mean cores':>22}")
for change in ("uds", "zerocopy"):
    for size in (100, 4000):
        a = json.load(open(f"{out}/analyze-{change}-{size}.json"))
        by = {}
        for v in a["variants"]:
            by.setdefault(v["config"], {})["after" if v["speedup"] else "before"] = v
        for config, v in by.items():
            b, s = v["before"], v["after"]
            def cell(key, stat):
                x, y = b[key][stat], s[key][stat]
                return f"{x:8.1f} → {y:8.1f} ({100 * (y / x - 1):+.0f}%)" if x else "-"
            print(f"{change:9} {size:5} {config:6} {cell('latency_overhead_us', 'mean'):>22} "
                  f"{cell('latency_overhead_us', 'p99'):>20} {cell('cpu_overhead_cores', 'mean'):>22}")
for change in ("uds", "zerocopy"):
    print(f"\n{change} at 100 B (speedup profile):")
    print(open(f"{out}/{change}-100.toml").read().split("[[change]]", 1)[0].strip()[:400])
PY
echo "profiles, speedups and reports kept in $out"
