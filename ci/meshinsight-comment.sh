#!/usr/bin/env bash
# The comment job (.github/workflows/meshinsight-comment.yml): puts the comment that the check
# job rendered (meshinsight-check.sh) on the pull request, or updates the one already there,
# with curl and jq alone: nothing is built and nothing of the pull request runs. A run that
# was cancelled or could not run, or that checked an older commit than the pull request's
# head, is marked so in the comment.
#
# Environment:
#   GITHUB_TOKEN, GITHUB_REPOSITORY  a token allowed to write pull requests; owner/name
#   GITHUB_API_URL                   the API (default https://api.github.com)
#   MESHINSIGHT_DIR                  the check job's artifact: comment.md, exit-code (may be absent)
#   MESHINSIGHT_PR                   the pull request; empty for a fork's, then found by
#   MESHINSIGHT_HEAD_LABEL           owner:branch of the pull request's head
#   MESHINSIGHT_HEAD_SHA             the commit the check run checked
#   MESHINSIGHT_RUN_CONCLUSION       the check run's conclusion (success, failure, cancelled, ...)
#   MESHINSIGHT_RUN_URL              the check run, linked from the comment
set +x
set -euo pipefail
. "$(dirname "$0")/meshinsight-lib.sh"

gate_prefix='<!-- cargo-meshinsight:gate:'
status_marker='<!-- cargo-meshinsight:gate:status -->'
banner_start='<!-- cargo-meshinsight:banner -->'
banner_end='<!-- /cargo-meshinsight:banner -->'

mi_require_token
mi_require_repo
dir=${MESHINSIGHT_DIR:-meshinsight-out}
sha=${MESHINSIGHT_HEAD_SHA:-}
[[ $sha =~ ^[0-9a-f]{7,64}$ ]] || mi_die "MESHINSIGHT_HEAD_SHA must be the checked commit, found '$sha'"
conclusion=${MESHINSIGHT_RUN_CONCLUSION:-unknown}
run_url=${MESHINSIGHT_RUN_URL:-}

# The pull request: given (same repository), or the open one whose head is owner:branch (of
# several, the one at the checked commit).
find_pr() {
  if [ -n "${MESHINSIGHT_PR:-}" ]; then
    [[ $MESHINSIGHT_PR =~ ^[1-9][0-9]*$ ]] || mi_die "MESHINSIGHT_PR must be a number >= 1, found '$MESHINSIGHT_PR'"
    printf '%s\n' "$MESHINSIGHT_PR"
    return
  fi
  local label=${MESHINSIGHT_HEAD_LABEL:-} status number
  [ -n "$label" ] || mi_die "no pull request: set MESHINSIGHT_PR or MESHINSIGHT_HEAD_LABEL"
  status=$(mi_api GET "$api/repos/$repo/pulls?state=open&per_page=100&head=$(jq -rn --arg l "$label" '$l|@uri')")
  [ "$status" = 200 ] || mi_api_failed "find the pull request of $label" "$status"
  number=$(jq -r --arg s "$sha" 'if length == 1 then .[0].number
    else [.[] | select(.head.sha == $s) | .number][0] // empty end' "$mi_tmp/body")
  [ -n "$number" ] || mi_die "no open pull request has head $label (at $sha)"
  printf '%s\n' "$number"
}

# The pull request's current head commit, or nothing when it cannot be read.
pr_head() {
  local status
  status=$(mi_api GET "$api/repos/$repo/pulls/$1")
  if [ "$status" = 200 ]; then
    jq -r 'if type == "object" then .head.sha // empty else empty end' "$mi_tmp/body"
  else
    mi_warn "could not read pull request #$1 (HTTP $status): an older result is not marked as such"
  fi
}

# The gate's comments on pull request $1, one JSON object {id, body} a line, over every page.
# Sets `listing_complete=0` when listing stopped early (a page seen twice, or 100 pages).
list_gate_comments() {
  local url="$api/repos/$repo/issues/$1/comments?per_page=100" pages=0 status
  declare -A seen=()
  listing_complete=1
  : >"$mi_tmp/comments"
  while [ -n "$url" ]; do
    if [ -n "${seen[$url]:-}" ]; then
      mi_warn "the comment pages loop (page $url comes again): stopped listing"
      listing_complete=0
      break
    fi
    if [ "$pages" -ge 100 ]; then
      mi_warn "more than 100 pages of comments: stopped listing"
      listing_complete=0
      break
    fi
    seen[$url]=1
    pages=$((pages + 1))
    status=$(mi_api GET "$url")
    [ "$status" = 200 ] || mi_api_failed "list the comments of pull request #$1" "$status"
    jq -c --arg m "$gate_prefix" '.[] | select((.body // "") | contains($m)) | {id, body}' \
      "$mi_tmp/body" >>"$mi_tmp/comments"
    url=$(mi_next_link)
  done
}

# The commit a comment body records, or nothing.
recorded_sha() {
  sed -n 's/^<!-- cargo-meshinsight:sha:\([0-9a-f]*\) -->$/\1/p' <<<"$1" | head -n 1
}

# A body: its first line (the marker), the banner $2 when not empty, the rest of $1 without an
# earlier banner or commit line, and the line recording commit $3 when not empty.
compose() {
  local body=$1 banner=$2 commit=$3
  head -n 1 <<<"$body"
  if [ -n "$banner" ]; then
    printf '%s\n%s\n%s\n\n' "$banner_start" "$banner" "$banner_end"
  fi
  tail -n +2 <<<"$body" |
    awk -v s="$banner_start" -v e="$banner_end" '
      $0 == s { skip = 1; next }
      $0 == e { skip = 0; after = 1; next }
      after && $0 == "" { next }
      { after = 0 }
      !skip && !/^<!-- cargo-meshinsight:sha:[0-9a-f]* -->$/'
  if [ -n "$commit" ]; then
    printf '<!-- cargo-meshinsight:sha:%s -->\n' "$commit"
  fi
}

# Creates (no $2) or updates comment $2 with the body in file $3.
put_comment() {
  local pr=$1 id=$2 file=$3 status
  jq -n --rawfile body "$file" '{body: $body}' >"$mi_tmp/request.json"
  if [ -z "$id" ]; then
    status=$(mi_api POST "$api/repos/$repo/issues/$pr/comments" "$mi_tmp/request.json")
    [ "$status" = 201 ] || mi_api_failed "comment on pull request #$pr" "$status"
    mi_note "Commented on pull request #$pr (comment $(jq -r .id "$mi_tmp/body"))"
  else
    status=$(mi_api PATCH "$api/repos/$repo/issues/comments/$id" "$mi_tmp/request.json")
    [ "$status" = 200 ] || mi_api_failed "update comment $id on pull request #$pr" "$status"
    mi_note "Updated comment $id on pull request #$pr"
  fi
}

short() { printf '%s' "${1:0:7}"; }

pr=$(find_pr)
head_now=$(pr_head "$pr")
superseded=0
if [ -n "$head_now" ] && [ "$head_now" != "$sha" ]; then
  superseded=1
fi
list_gate_comments "$pr"

exit_code=
if [ -f "$dir/exit-code" ]; then
  exit_code=$(tr -dc '0-9' <"$dir/exit-code")
fi
if [ -f "$dir/comment.md" ] && { [ "$exit_code" = 0 ] || [ "$exit_code" = 100 ]; }; then
  # A verdict: replace the comment of its platform (or a status comment) with it.
  body=$(cat "$dir/comment.md")
  marker=$(head -n 1 <<<"$body")
  [[ $marker == "$gate_prefix"*' -->' ]] || mi_die "$dir/comment.md does not start with the gate's marker"
  target=$(jq -c --arg m "$marker" 'select(.body | contains($m))' "$mi_tmp/comments" | head -n 1)
  if [ -z "$target" ]; then
    target=$(jq -c --arg m "$status_marker" 'select(.body | contains($m))' "$mi_tmp/comments" | head -n 1)
  fi
  if [ -z "$target" ] && [ "$listing_complete" = 0 ]; then
    mi_die "the gate's comment may be on a page not read: not posting a second one"
  fi
  id=$(jq -r '.id // empty' <<<"${target:-null}")
  old=$(jq -r '.body // empty' <<<"${target:-null}")
  banner=
  if [ "$superseded" = 1 ]; then
    if [ -n "$old" ] && [ "$(recorded_sha "$old")" = "$head_now" ]; then
      mi_note "The comment already shows the pull request's head $(short "$head_now"); not replacing it with the result of $(short "$sha")"
      exit 0
    fi
    banner="> ⚠️ **This result is from an older commit** (\`$(short "$sha")\`): the pull request is now at \`$(short "$head_now")\`, whose check has not reported yet."
  fi
  compose "$body" "$banner" "$sha" >"$mi_tmp/comment.md"
  put_comment "$pr" "$id" "$mi_tmp/comment.md"
  exit 0
fi

# No verdict: say why on every gate comment of the pull request, or in a new status comment.
case "$conclusion" in
cancelled) what="was cancelled" ;;
timed_out) what="timed out" ;;
*) what="could not run${exit_code:+ (exit code $exit_code)}" ;;
esac
link=${run_url:+: see [the run]($run_url)}
if [ ! -s "$mi_tmp/comments" ]; then
  if [ "$listing_complete" = 0 ]; then
    mi_die "the gate's comment may be on a page not read: not posting a second one"
  fi
  printf '%s\n### ⚠️ cargo-meshinsight: the check of `%s` %s%s.\n' \
    "$status_marker" "$(short "$sha")" "$what" "$link" >"$mi_tmp/status.md"
  compose "$(cat "$mi_tmp/status.md")" "" "$sha" >"$mi_tmp/comment.md"
  put_comment "$pr" "" "$mi_tmp/comment.md"
  exit 0
fi
while IFS= read -r comment; do
  id=$(jq -r .id <<<"$comment")
  old=$(jq -r .body <<<"$comment")
  shown=$(recorded_sha "$old")
  if [ "$superseded" = 1 ] && [ "$shown" = "$head_now" ]; then
    mi_note "Comment $id already shows the pull request's head $(short "$head_now"): left as it is"
    continue
  fi
  if [ "$shown" = "$sha" ]; then
    banner="> ⚠️ **A later run of the check of \`$(short "$sha")\` $what**$link. The result below is from an earlier run of the same commit."
  else
    banner="> ⚠️ **The check of \`$(short "$sha")\` $what**$link. The result below is from an older commit${shown:+ (\`$(short "$shown")\`)}."
  fi
  compose "$old" "$banner" "$shown" >"$mi_tmp/comment.md"
  put_comment "$pr" "$id" "$mi_tmp/comment.md"
done <"$mi_tmp/comments"
