#!/usr/bin/env bash
# The gate's A/A and injected-regression experiment (docs/gate.md, "How well it works"). Not
# part of every CI run: a round of all kinds takes several minutes on 2 vCPUs.
#
#   sudo ci/gate-experiment.sh [N=50] [HISTORY=3]
#
# In a temporary git project that gates the `builtin` sidecar on this repository's fixtures
# (fixtures/ecg/*.toml without filters, unless FILTERS=1: the filter phases lengthen every
# check), with the gate's own settings:
#   1. HISTORY x `baseline update --commit` (the stored baseline and its history spread, for
#      the unpaired kind and the coarse signal of the paired ones);
#   2. N rounds, each one check of every kind, interleaved so that the machine's load falls
#      on all of them:
#      aa           the default check (paired, adaptive, with confirmation) of the unchanged
#                   builtin against the base at the merge base (builtin): any regression is
#                   false
#      inj5, inj2   the default check of `builtin --extra-work-us 5` (or 2) against it: 5 µs of
#                   user-space work per message, +10 µs per traversal, the `other` component
#      split2       the default check of `builtin --split-writes 2` against it (every write in
#                   two pieces: the write counters must catch it); skipped when this build's
#                   builtin has no --split-writes
#      aa-unpaired  `check --unpaired` of the unchanged builtin against the stored baseline
# It prints per kind: checks, errors, regressions (false ones for A/A, catches otherwise) and
# for A/A the one-sided 95 % upper bound of the false-alarm rate; of the regressions how many
# have `other` among the components that moved, how many the write counters caught; checks
# measured twice (confirmation); checks that spent the time budget; rounds per check; the mean
# 1-minute load at the start; the median and 90th percentile of the wall time per check.
#
# KINDS="aa inj5" (environment) runs only those kinds. STRESS=1 runs a one-core busy loop
# beside every check (as a loaded CI runner would). BUDGET=90s passes --time-budget to the
# paired checks (default: the check's own, 3m). UPDATE_EVERY=K records one more baseline
# version after every K rounds (what the baseline workflow does on every merge).
# SUMMARY=DIR prints the tables of an earlier run's directory (also of one stopped early).
#
# Needs root (the eBPF probe). The figures are only as good as the machine is quiet: the
# script records the load average before every check. Reports stay in the printed directory.
set -euo pipefail
cd "$(dirname "$0")/.."

summary() { # out n
python3 - "$1" "$2" <<'PY'
import json, math, sys
out, n = sys.argv[1], int(sys.argv[2])
runs = [l.split() for l in open(f"{out}/runs.txt")]

def report(kind, r):
    try:
        return json.load(open(f"{out}/{kind}-{r}.json"))
    except Exception:
        return None

def moved(v):
    """The components that moved: parts of the primary metrics that regressed or improved."""
    return {a["part"] for m in v["metrics"] if m["verdict"] in ("regression", "improvement")
            for a in m.get("parts", [])}

def write_counters(v):
    return any(c["verdict"] == "regression" and "/write/" in c["key"] for c in v.get("counters", []))

def twice(v):
    return bool((v.get("paired") or {}).get("confirmation")) or any(
        s.startswith("measured twice") for s in v.get("notes", []))

def budget(v):
    return ((v.get("paired") or {}).get("rounds") or {}).get("stopped") == "budget"

def rounds(v):
    return ((v.get("paired") or {}).get("rounds") or {}).get("rounds", 0)

def upper95(k, n):
    """One-sided 95 % upper bound of a rate seen k times in n (Clopper-Pearson)."""
    if n == 0:
        return float("nan")
    cdf = lambda p: sum(math.comb(n, i) * p**i * (1 - p)**(n - i) for i in range(k + 1))
    lo, hi = k / n, 1.0
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if cdf(mid) > 0.05 else (lo, mid)
    return hi

def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(math.ceil(q * len(xs))) - 1)] if xs else float("nan")

print(f"\nN={n} rounds")
print(f"{'check':12} {'runs':>4} {'errors':>6} {'regression':>10} {'95% upper':>9} {'other moved':>11} "
      f"{'write ctr':>9} {'improved':>8} {'twice':>5} {'budget':>6} {'rounds':>6} {'load':>5} {'median s':>8} {'p90 s':>6}")
for kind in ["aa", "inj5", "inj2", "split2", "aa-unpaired"]:
    rows = [x for x in runs if x[0] == kind]
    if not rows:
        continue
    vs = [report(kind, x[1]) for x in rows]
    errors = sum(1 for x, v in zip(rows, vs) if v is None or x[2] not in ("0", "100"))
    reg = [v for v in vs if v and v["verdict"] == "regression"]
    better = sum(1 for v in vs if v and v["verdict"] == "improvement")
    bound = f"{100 * upper95(len(reg), len(rows)):8.1f}%" if kind.startswith("aa") else f"{'-':>9}"
    other = sum(1 for v in reg if "other" in moved(v))
    ctr = sum(1 for v in reg if write_counters(v))
    two = sum(1 for v in vs if v and twice(v))
    spent = sum(1 for v in vs if v and budget(v))
    rs = [rounds(v) for v in vs if v]
    secs = [float(x[4]) for x in rows]
    load = sum(float(x[3]) for x in rows) / len(rows)
    print(f"{kind:12} {len(rows):4} {errors:6} {len(reg):10} {bound} {other:11} {ctr:9} {better:8} {two:5} {spent:6} "
          f"{pct(rs, 0.5):6} {load:5.1f} {pct(secs, 0.5):8.0f} {pct(secs, 0.9):6.0f}")
print("\nper check: kind, round, verdict, components that moved, rounds, summary")
for x in runs:
    v = report(x[0], x[1])
    parts = ",".join(sorted(moved(v))) if v else ""
    print(f"  {x[0]:12} {x[1]:>3} {v['verdict'] if v else 'error':11} {parts:18} "
          f"{rounds(v) if v else 0:>2} {'twice' if v and twice(v) else 'once':5} {v['summary'] if v else ''}")
PY
}

if [ -n "${SUMMARY:-}" ]; then # the tables of an earlier (or stopped) run's directory
  summary "$SUMMARY" "$(awk '{ print $2 }' "$SUMMARY/runs.txt" | sort -n | tail -1)"
  exit 0
fi
n=${1:-50}
history=${2:-3}
repo=$(pwd)
cargo build --release --locked -q -p cargo-meshinsight --bin cargo-meshinsight
exe="$repo/target/release/cargo-meshinsight"
out=$(mktemp -d /tmp/meshinsight-gate-experiment.XXXXXX)
proj="$out/project"
mkdir -p "$proj/fixtures" "$proj/src"
for f in "$repo"/fixtures/ecg/*.toml; do
  if [ "${FILTERS:-0}" = 1 ] || ! grep -q '^ *filters' "$f"; then cp "$f" "$proj/fixtures/"; fi
done
touch "$proj/src/lib.rs"
cat >"$proj/Cargo.toml" <<'EOF'
[package]
name = "gated"
version = "0.1.0"
edition = "2021"

[workspace]

[package.metadata.meshinsight]
sidecar = "builtin"
fixtures = ["fixtures/*.toml"]
EOF
printf 'target\n' >"$proj/.gitignore"
git -C "$proj" init -q -b main
git -C "$proj" config user.name experiment
git -C "$proj" config user.email experiment@example.com
git -C "$proj" add -A
git -C "$proj" commit -qm project
m=(--manifest-path "$proj/Cargo.toml")
every=${UPDATE_EVERY:-0}
kinds=" ${KINDS:-aa inj5 inj2 split2 aa-unpaired} "
if [[ $kinds == *" split2 "* ]] && ! "$exe" __sidecar --help 2>/dev/null | grep -q -- --split-writes; then
  echo "this build's builtin has no --split-writes: leaving out split2"
  kinds=${kinds/ split2 / }
fi
want() { [[ $kinds == *" $1 "* ]]; }
echo "experiment in $out: N=$n, kinds:$kinds, $history baseline versions${BUDGET:+, time budget $BUDGET}$( [ "$every" -gt 0 ] && echo ", one more after every $every rounds")$( [ "${STRESS:-0}" = 1 ] && echo ", a one-core busy loop beside every check")"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs, kernel $(uname -r)"
for i in $(seq 1 "$history"); do
  echo "baseline $i/$history (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$exe" baseline update -q --commit "${m[@]}"
done

check() { # kind round args...
  local kind=$1 round=$2
  shift 2
  local busy=""
  if [ "${STRESS:-0}" = 1 ]; then
    timeout 900 sh -c 'while :; do :; done' &
    busy=$!
  fi
  local load start code
  load=$(cut -d' ' -f1 /proc/loadavg)
  start=$EPOCHREALTIME
  set +e
  "$exe" check -q --no-comment --format json "${m[@]}" "$@" >"$out/$kind-$round.json" 2>"$out/$kind-$round.err"
  code=$?
  set -e
  local secs
  secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
  if [ -n "$busy" ]; then kill "$busy" 2>/dev/null || true; wait "$busy" 2>/dev/null || true; fi
  echo "$kind $round $code $load $secs" >>"$out/runs.txt"
  printf '  %-12s exit %s (load %s, %.0f s)\n' "$kind" "$code" "$load" "$secs"
}

budget=()
if [ -n "${BUDGET:-}" ]; then budget=(--time-budget "$BUDGET"); fi
for r in $(seq 1 "$n"); do
  echo "round $r/$n"
  if want aa; then check aa "$r" "${budget[@]}"; fi
  if want inj5; then check inj5 "$r" "${budget[@]}" --sidecar "builtin --extra-work-us 5"; fi
  if want inj2; then check inj2 "$r" "${budget[@]}" --sidecar "builtin --extra-work-us 2"; fi
  if want split2; then check split2 "$r" "${budget[@]}" --sidecar "builtin --split-writes 2"; fi
  if want aa-unpaired; then check aa-unpaired "$r" --unpaired; fi
  if [ "$every" -gt 0 ] && [ $((r % every)) -eq 0 ] && [ "$r" -lt "$n" ]; then
    echo "  baseline update (load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$exe" baseline update -q --commit "${m[@]}"
    history=$((history + 1))
  fi
done
echo "baseline versions at the end: $history"

summary "$out" "$n"
echo "reports in $out"
