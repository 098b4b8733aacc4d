#!/usr/bin/env bash
# The baseline job (.github/workflows/meshinsight-baseline.yml): profiles the target branch
# as `check` measures it, records baselines/<platform-id>.json in a commit of that file alone
# and pushes it. When the branch moved meanwhile, the commit is rebased onto it and pushed
# again (up to $MESHINSIGHT_PUSH_ATTEMPTS times); when the push is refused although nothing
# moved (a protected branch), it goes to a new branch and a pull request is opened instead.
#
# Environment:
#   MESHINSIGHT_BRANCH         the branch to update (default $GITHUB_REF_NAME, else main)
#   MESHINSIGHT_REMOTE         the remote (default origin)
#   MESHINSIGHT_PUSH_ATTEMPTS  pushes before giving up (default 5)
#   MESHINSIGHT_PROFILE        record this profile file instead of profiling now
#   MESHINSIGHT_VIA_PR=1       always open a pull request instead of pushing to the branch
#   GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_API_URL  for the pull request
# Extra arguments go to `profile`. The profile needs root or CAP_BPF + CAP_PERFMON (as in
# meshinsight-check.sh); git runs as the invoking user, so no root-owned file lands in .git.
set +x
set -euo pipefail
. "$(dirname "$0")/meshinsight-lib.sh"

branch=${MESHINSIGHT_BRANCH:-${GITHUB_REF_NAME:-main}}
remote=${MESHINSIGHT_REMOTE:-origin}
attempts=${MESHINSIGHT_PUSH_ATTEMPTS:-5}
[[ $attempts =~ ^[1-9][0-9]*$ ]] || mi_die "MESHINSIGHT_PUSH_ATTEMPTS must be a number >= 1, found '$attempts'"
bin=$(mi_bin)
if [ -z "${CARGO:-}" ] && command -v cargo >/dev/null; then
  CARGO=$(command -v cargo)
  export CARGO
fi

git config user.name >/dev/null || git config user.name "cargo-meshinsight"
git config user.email >/dev/null || git config user.email "cargo-meshinsight@users.noreply.github.com"

profile=${MESHINSIGHT_PROFILE:-}
if [ -z "$profile" ]; then
  profile="$mi_tmp/profile.json"
  mi_privileged "$bin" meshinsight profile --project -o "$profile" "$@"
fi
before=$(git rev-parse HEAD)
measured=$(git rev-parse --short HEAD)
"$bin" meshinsight baseline update --profile "$profile" --commit
if [ "$(git rev-parse HEAD)" = "$before" ]; then
  mi_note "The baseline is unchanged: nothing to push"
  exit 0
fi

# Opens a pull request of the baseline commit against $branch.
open_pull_request() {
  local pr_branch status title
  pr_branch="meshinsight/baseline-$(git rev-parse --short HEAD)"
  git push "$remote" "HEAD:refs/heads/$pr_branch"
  mi_require_token
  mi_require_repo
  title=$(git log -1 --format=%s)
  jq -n --arg t "$title" --arg h "$pr_branch" --arg b "$branch" \
    --arg body "The gate's baseline of \`$branch\` at $measured, recorded by cargo-meshinsight. \`$branch\` refused a direct push (a protected branch): merge this to keep the baseline current." \
    '{title: $t, head: $h, base: $b, body: $body}' >"$mi_tmp/pull.json"
  status=$(mi_api POST "$api/repos/$repo/pulls" "$mi_tmp/pull.json")
  [ "$status" = 201 ] || mi_api_failed "open a pull request for $pr_branch (allow GitHub Actions to create pull requests in the repository's settings)" "$status"
  mi_note "Opened $(jq -r .html_url "$mi_tmp/body")"
}

if [ "${MESHINSIGHT_VIA_PR:-0}" = 1 ]; then
  open_pull_request
  exit 0
fi
for attempt in $(seq 1 "$attempts"); do
  if git push "$remote" "HEAD:refs/heads/$branch"; then
    exit 0
  fi
  git fetch "$remote" "$branch"
  if git merge-base --is-ancestor FETCH_HEAD HEAD; then
    # Nothing to catch up with, yet refused: the branch does not take direct pushes.
    mi_note "$branch refused the push without having moved: opening a pull request instead"
    open_pull_request
    exit 0
  fi
  mi_note "$branch moved during the profile (push $attempt of $attempts refused): rebasing onto it"
  git rebase FETCH_HEAD || {
    git rebase --abort
    mi_die "the baseline commit does not rebase onto $remote/$branch (another baseline of this platform landed?)"
  }
done
mi_die "$branch kept moving: the baseline was not pushed after $attempts attempts"
