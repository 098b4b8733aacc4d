#!/usr/bin/env bash
# The check job (.github/workflows/meshinsight-check.yml): `cargo meshinsight check` as
# configured, i.e. the pull request's sidecar and the one at the merge base with the target
# branch measured side by side, a regression confirmed by a second measurement. Writes into
# $MESHINSIGHT_OUT (default meshinsight-out/), for the comment job:
#   report.json  the JSON verdict        comment.md  the rendered pull-request comment
#   exit-code    check's exit code
# and exits with check's code: 0 pass, 100 regression, 101 could not run, 102 missing
# privilege (docs/exit-codes.md). Extra arguments go to `check`.
#
# The measurement needs root or CAP_BPF + CAP_PERFMON: as root it runs as is, otherwise
# through $MESHINSIGHT_SUDO (default `sudo -n`; ci/README.md "Runner setup"). It never
# comments (a fork's pull request gets a read-only token): the comment job does.
set +x
set -euo pipefail
. "$(dirname "$0")/meshinsight-lib.sh"

out=${MESHINSIGHT_OUT:-meshinsight-out}
bin=$(mi_bin)
mkdir -p "$out"
rm -f "$out/report.json" "$out/comment.md" "$out/exit-code"
# Builds of a `bin` sidecar run as this user and need cargo, which sudo's PATH may not have.
if [ -z "${CARGO:-}" ] && command -v cargo >/dev/null; then
  CARGO=$(command -v cargo)
  export CARGO
fi

mi_note "Checking with $("$bin" meshinsight --version)"
code=0
mi_privileged "$bin" meshinsight check --output "$out/report.json" --no-comment "$@" || code=$?
printf '%s\n' "$code" >"$out/exit-code"
if [ -f "$out/report.json" ]; then
  if "$bin" meshinsight comment --report "$out/report.json" --render-only >"$mi_tmp/comment.md"; then
    mv "$mi_tmp/comment.md" "$out/comment.md"
  else
    mi_warn "failed to render the comment: the comment job will say the check could not run"
  fi
fi
exit "$code"
