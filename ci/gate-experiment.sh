#!/usr/bin/env bash
# The gate's A/A and injected-regression experiment (issue 6, docs/gate.md "How well it
# works"). Not part of every CI run: it takes about 4 minutes per round on 2 vCPUs.
#
#   sudo ci/gate-experiment.sh [N=20] [WORK_US=5] [HISTORY=3]
#
# In a temporary git project that gates the `builtin` sidecar on this repository's fixtures
# (fixtures/ecg/*.toml without filters, unless FILTERS=1: the filter phases would lengthen
# every check), with the `profile --quick` settings:
#   1. HISTORY x `baseline update --quick --commit` (the baseline and its history spread);
#   2. N rounds, each of four checks, interleaved so that the machine's load falls on all:
#      aa        `check --quick` of the unchanged builtin against the baseline
#      inj       `check --quick --sidecar 'builtin --extra-work-us WORK_US'` against it
#      aa-pair   `check --quick --paired --base-sidecar builtin`
#      inj-pair  the same with the head `builtin --extra-work-us WORK_US`
# A check that finds a regression against the baseline measures once more and keeps only
# what repeats (docs/gate.md, "Confirmation"); "measured twice" counts those checks.
# It prints per kind: regressions (false ones for A/A, catches for injected); of those, how
# many name `other` in the summary, have an `other` coefficient among the regressions, have
# only `other` coefficients among them, and have `other` latency among them. User-space work
# per message is User(tcp), the `other` component; Parsing is User(http) − User(tcp) and must
# not move. Reports stay in the printed directory.
#
# UPDATE_EVERY=K (environment) records one more baseline version (`baseline update --quick
# --commit`, what the workflow does on every merge to main) after every K rounds, so that the
# history spread covers the whole session and not only the minutes before it. Default 0: the
# HISTORY versions recorded back to back before round 1 are all.
#
# KINDS="aa inj" (environment) runs only those kinds (default: all four), e.g. the baseline
# comparison the issue asks for first and the paired checks in a second session.
#
# Needs root (the eBPF probe). The figures are only as good as the machine is quiet: the
# script records the load average before every check.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-20}
work=${2:-5}
history=${3:-3}
repo=$(pwd)
cargo build --release --locked -q -p cargo-meshinsight
exe="$repo/target/release/cargo-meshinsight"
out=$(mktemp -d /tmp/meshinsight-gate-experiment.XXXXXX)
proj="$out/project"
mkdir -p "$proj/fixtures" "$proj/src"
# Fixtures with filters are left out: their filter phases would lengthen every check and the
# experiment is about the plain modes (FILTERS=1 keeps them).
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
echo "experiment in $out: N=$n, injected ${work} µs/message, $history baseline versions$( [ "$every" -gt 0 ] && echo ", one more after every $every rounds")"
echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs, kernel $(uname -r)"
for i in $(seq 1 "$history"); do
  echo "baseline $i/$history (load $(cut -d' ' -f1-3 /proc/loadavg))"
  "$exe" baseline update -q --quick --commit "${m[@]}"
done

check() { # kind round args...
  local kind=$1 round=$2
  shift 2
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  local start=$SECONDS
  set +e
  "$exe" check -q --quick --no-comment --format json "${m[@]}" "$@" >"$out/$kind-$round.json" 2>"$out/$kind-$round.err"
  local code=$?
  set -e
  echo "$kind $round $code $load $((SECONDS - start))" >>"$out/runs.txt"
  echo "  $kind: exit $code (load $load, $((SECONDS - start)) s)"
}

kinds=" ${KINDS:-aa inj aa-pair inj-pair} "
want() { [[ $kinds == *" $1 "* ]]; }
for r in $(seq 1 "$n"); do
  echo "round $r/$n"
  if want aa; then check aa "$r" --baseline-rev HEAD; fi
  if want inj; then check inj "$r" --baseline-rev HEAD --sidecar "builtin --extra-work-us $work"; fi
  if want aa-pair; then check aa-pair "$r" --paired --base-sidecar builtin; fi
  if want inj-pair; then
    check inj-pair "$r" --paired --base-sidecar builtin --sidecar "builtin --extra-work-us $work"
  fi
  if [ "$every" -gt 0 ] && [ $((r % every)) -eq 0 ] && [ "$r" -lt "$n" ]; then
    echo "  baseline update (load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$exe" baseline update -q --quick --commit "${m[@]}"
    history=$((history + 1))
  fi
done
echo "baseline versions at the end: $history"

python3 - "$out" "$n" "$work" <<'PY'
import json, sys
out, n, work = sys.argv[1], int(sys.argv[2]), sys.argv[3]
runs = [l.split() for l in open(f"{out}/runs.txt")]
def report(kind, r):
    try:
        return json.load(open(f"{out}/{kind}-{r}.json"))
    except Exception:
        return None
def regressed_parts(v):
    return {m["id"]["component"] for m in v["metrics"]
            if m["verdict"] == "regression" and m["id"]["kind"] == "coefficient"}
def other_latency(v):
    return any(m["verdict"] == "regression" and m["id"]["kind"] == "coefficient"
               and m["id"]["component"] == "other" and m["id"]["quantity"] == "latency"
               for m in v["metrics"])
def names_other(v):
    # The summary names what moved most: a fixture's part ("mostly other") or, when no
    # fixture regressed, the largest coefficient ("coef/<mode>/other/...").
    s = v["summary"]
    largest = s.split("largest: ", 1)[-1]
    return "mostly other" in s or largest.startswith("coef/") and "/other/" in largest.split(" ")[0]
print(f"\nN={n} rounds, injected {work} µs of user-space work per message")
def twice(v):
    return any(n.startswith("measured twice") for n in v.get("notes", []))
print(f"{'check':9} {'runs':>4} {'errors':>6} {'regression':>10} {'names other':>11} {'other moved':>11} {'only other':>10} {'other lat.':>10} {'measured twice':>14} {'load':>5} {'s':>4}")
for kind in ["aa", "inj", "aa-pair", "inj-pair"]:
    rows = [x for x in runs if x[0] == kind]
    if not rows:
        continue
    vs = [report(kind, x[1]) for x in rows]
    errors = sum(1 for x, v in zip(rows, vs) if v is None or x[2] not in ("0", "100"))
    reg = [v for v in vs if v and v["verdict"] == "regression"]
    named = sum(1 for v in reg if names_other(v))
    moved = sum(1 for v in reg if "other" in regressed_parts(v))
    only = sum(1 for v in reg if regressed_parts(v) and regressed_parts(v) <= {"other"})
    lat = sum(1 for v in reg if other_latency(v))
    load = sum(float(x[3]) for x in rows) / max(len(rows), 1)
    secs = sum(int(x[4]) for x in rows) / max(len(rows), 1)
    two = sum(1 for v in vs if v and twice(v))
    print(f"{kind:9} {len(rows):4} {errors:6} {len(reg):10} {named:11} {moved:11} {only:10} {lat:10} {two:14} {load:5.1f} {secs:4.0f}")
print("\nper run: kind, round, verdict, regressed components, summary")
for x in runs:
    v = report(x[0], x[1])
    parts = ",".join(sorted(regressed_parts(v))) if v else ""
    print(f"  {x[0]:9} {x[1]:>3} {v['verdict'] if v else 'error':12} {parts:18} {'twice' if v and twice(v) else 'once':5} {v['summary'] if v else ''}")
PY
echo "reports in $out"
