#!/usr/bin/env bash
# Reproducibility of `cargo meshinsight profile`: runs N profiles of the same sidecar one after
# another and prints, per mode, the coefficient of variation (standard deviation / mean) of the
# total latency and CPU coefficients (sums over components), and each run's wall time.
#
#   sudo ci/profile-reproducibility.sh [N=5] [profile options, default: --sidecar builtin --quick]
#
# Needs root (the eBPF probe). Run it on a quiet machine: other load shows up as noise.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5}
shift || true
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(--sidecar builtin --quick)
cargo build --release --locked -q
out=$(mktemp -d)
for i in $(seq 1 "$n"); do
  target/release/cargo-meshinsight profile -q "${args[@]}" -o "$out/p$i.json" --format json >/dev/null
  echo "run $i: $(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['settings']['elapsed_s'],1))" "$out/p$i.json") s"
done
python3 - "$out" "$n" <<'PY'
import json, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
profiles = [json.load(open(f"{out}/p{i}.json")) for i in range(1, n + 1)]
print(f"platform: {profiles[0]['platform']['id']}")
print(f"{'mode':6} {'coefficient':24} {'mean':>10} {'sd':>10} {'CV %':>7}")
for mode in profiles[0]["modes"]:
    for metric in ("latency", "cpu"):
        for coef in ("base_us", "per_byte_us"):
            vals = [sum(c[metric][coef] for c in p["modes"][mode]["components"].values()) for p in profiles]
            mean = statistics.mean(vals)
            sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
            cv = 100 * sd / abs(mean) if mean else float("nan")
            print(f"{mode:6} {metric + ' ' + coef:24} {mean:10.4f} {sd:10.4f} {cv:7.1f}")
res = [p["checks"]["median_abs_residual_pct"] for p in profiles]
print("median |A1 residual| % per run:", ", ".join(f"{r:.1f}" for r in res))
PY
echo "profiles kept in $out"
