#!/usr/bin/env bash
# Reproducibility of `cargo meshinsight profile`: runs N profiles of the same sidecar one after
# another and prints, per mode, the coefficient of variation (standard deviation / mean) of the
# total latency and CPU coefficients (sums over components) as fitted (screened) and by plain
# least squares on the same runs, the maximum rates found, the R² of the per-byte read and write
# fits, and each run's wall time and load.
#
#   sudo ci/profile-reproducibility.sh [N=5] [profile options, default: --sidecar builtin --quick]
#   ci/profile-reproducibility.sh --refit DIR    # the same figures for DIR/p1.json ... pN.json,
#                                                # fitted again by this build (no root)
#
# Needs root (the eBPF probe). Run it on a quiet machine: other load shows up as noise.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked -q
if [ "${1:-}" = "--refit" ]; then
  src=${2:?usage: ci/profile-reproducibility.sh --refit DIR}
  n=$(ls "$src"/p*.json | wc -l)
  out=$(mktemp -d)
  for i in $(seq 1 "$n"); do
    target/release/cargo-meshinsight profile -q --refit "$src/p$i.json" -o "$out/p$i.json" --format json >/dev/null
  done
else
  n=${1:-5}
  shift || true
  args=("$@")
  [ ${#args[@]} -gt 0 ] || args=(--sidecar builtin --quick)
  out=$(mktemp -d)
  for i in $(seq 1 "$n"); do
    target/release/cargo-meshinsight profile -q "${args[@]}" -o "$out/p$i.json" --format json >/dev/null
    echo "run $i: $(python3 -c "import json,sys; print(round(json.load(open(sys.argv[1]))['settings']['elapsed_s'],1))" "$out/p$i.json") s"
  done
fi
python3 - "$out" "$n" <<'PY'
import json, statistics, sys
out, n = sys.argv[1], int(sys.argv[2])
profiles = [json.load(open(f"{out}/p{i}.json")) for i in range(1, n + 1)]

def cv(vals):
    mean = statistics.mean(vals)
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return mean, sd, (100 * sd / abs(mean) if mean else float("nan"))

def plain_totals(p):
    """Total coefficients by plain least squares on every run pair (no screening): the
    intercept of the summed path (closed loop) or CPU (open loop) time over sizes, which is
    the sum of the per-component intercepts."""
    idx = {}
    for r in p["runs"]:
        if r["config"].get("filters") or r.get("reference_for"):
            continue
        load = r["load"]["kind"] if r["load"]["kind"] == "closed" else "open"
        key = (r["config"]["mode"], r["size"], load, r["repeat"], r["load"].get("fraction"))
        idx.setdefault(key, {})[r["through_sidecar"]] = r
    pts = {}
    for (mode, size, load, _, _), v in idx.items():
        if True in v and False in v:
            field = "path_us" if load == "closed" else "cpu_us"
            y = sum(v[True][field].values()) - sum(v[False][field].values())
            pts.setdefault((mode, "latency" if load == "closed" else "cpu"), []).append((size, y))
    res = {}
    for k, ps in pts.items():
        m = len(ps); mx = sum(x for x, _ in ps) / m; my = sum(y for _, y in ps) / m
        sxx = sum((x - mx) ** 2 for x, _ in ps)
        b = sum((x - mx) * (y - my) for x, y in ps) / sxx if sxx else 0.0
        res[k] = my - b * mx
    return res

plain = [plain_totals(p) for p in profiles]
print(f"platform: {profiles[0]['platform']['id']}")
print(f"{'mode':6} {'coefficient':24} {'mean':>10} {'sd':>10} {'CV %':>7} {'CV % unscreened':>16}")
for mode in profiles[0]["modes"]:
    # cpu_unloaded: the closed-loop CPU fit (profiles since it was fitted; --refit adds it).
    for metric in ("latency", "cpu", "cpu_unloaded"):
        if not all(metric in c for p in profiles for c in p["modes"][mode]["components"].values()):
            continue
        for coef in ("base_us", "per_byte_us"):
            vals = [sum(c[metric][coef] for c in p["modes"][mode]["components"].values()) for p in profiles]
            mean, sd, c = cv(vals)
            extra = ""
            if coef == "base_us" and all((mode, metric) in t for t in plain):
                extra = f"{cv([t[(mode, metric)] for t in plain])[2]:16.1f}"
            print(f"{mode:6} {metric + ' ' + coef:24} {mean:10.4f} {sd:10.4f} {c:7.1f} {extra}")
for mode in profiles[0]["settings"]["max_rate_rps"]:
    mean, sd, c = cv([p["settings"]["max_rate_rps"][mode] for p in profiles])
    print(f"{mode:6} {'maximum rate, req/s':24} {mean:10.0f} {sd:10.0f} {c:7.1f}")
print("R² of the per-byte read / write fits per run, over the runs | over the size means")
print("(the target is > 0.8; the CI judges the latency fits' R² over the size means):")
def r2_sizes(p, mode, comp, metric):
    for l in p["checks"]["linearity"]:
        if (l["config"], l["component"], l["metric"]) == (mode, comp, metric):
            return l.get("r2_sizes")
    return None
for mode in profiles[0]["modes"]:
    for comp in ("read", "write"):
        for metric in ("latency", "cpu"):
            r2 = [p["modes"][mode]["components"][comp][metric].get("r2") for p in profiles]
            means = [r2_sizes(p, mode, comp, metric) for p in profiles]
            shown = ", ".join("-" if r is None else f"{r:.2f}" for r in r2)
            shown_means = ", ".join("-" if r is None else f"{r:.2f}" for r in means)
            print(f"  {mode:6} {comp:5} {metric:7} {shown} | {shown_means}")
res = [p["checks"]["median_abs_residual_pct"] for p in profiles]
print("median |A1 residual| % per run:", ", ".join(f"{r:.1f}" for r in res))
print("run pairs screened out per run:", ", ".join(str(len(p["checks"].get("outliers", []))) for p in profiles))
loads = [p["settings"].get("machine_load") for p in profiles]
print("other load / steal % per run:", ", ".join(f"{l['other_cpu_pct']:.0f}/{l['steal_pct']:.0f}" if l else "-" for l in loads))
PY
echo "profiles kept in $out"
