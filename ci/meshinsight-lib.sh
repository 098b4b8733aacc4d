# Shared by the ci/meshinsight-*.sh scripts (sourced, not run): messages, the privileged
# command, and GitHub API requests that keep the token out of logs and process lists.
# shellcheck shell=bash

set +x # never trace these scripts: the token is in their environment

mi_tmp=$(mktemp -d)
trap 'rm -rf "$mi_tmp"' EXIT

mi_die() {
  printf 'error: %s\n' "$*" >&2
  exit 1
}

mi_warn() { printf 'warning: %s\n' "$*" >&2; }

mi_note() { printf '%s\n' "$*" >&2; }

# The installed tool: $MESHINSIGHT_BIN (meshinsight-install.sh sets it), else the one on PATH.
mi_bin() {
  local bin=${MESHINSIGHT_BIN:-}
  if [ -z "$bin" ]; then
    bin=$(command -v cargo-meshinsight) ||
      mi_die "cargo-meshinsight is not installed; run ci/meshinsight-install.sh first"
  fi
  printf '%s\n' "$bin"
}

# Runs "$@" with the privileges the eBPF probe needs: as is when already root, else through
# $MESHINSIGHT_SUDO (default `sudo -n`, which the runner's sudoers rule must allow for the
# installed binary: ci/README.md "Runner setup"). Children drop back to the invoking user.
mi_privileged() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  else
    local sudo
    read -r -a sudo <<<"${MESHINSIGHT_SUDO:-sudo -n}"
    "${sudo[@]}" "$@"
  fi
}

# Checks GITHUB_TOKEN (trimmed of surrounding white space) without ever printing it.
mi_require_token() {
  GITHUB_TOKEN=${GITHUB_TOKEN:-}
  GITHUB_TOKEN=${GITHUB_TOKEN#"${GITHUB_TOKEN%%[![:space:]]*}"}
  GITHUB_TOKEN=${GITHUB_TOKEN%"${GITHUB_TOKEN##*[![:space:]]}"}
  [ -n "$GITHUB_TOKEN" ] || mi_die "GITHUB_TOKEN is not set (the job needs it with pull-requests: write)"
  [[ $GITHUB_TOKEN =~ ^[A-Za-z0-9_.~+/=-]+$ ]] ||
    mi_die "GITHUB_TOKEN is not a valid HTTP header value (it is not printed)"
}

# GITHUB_REPOSITORY as owner/name, and the API's base URL.
mi_require_repo() {
  repo=${GITHUB_REPOSITORY:-}
  [[ $repo =~ ^[A-Za-z0-9-]+/[A-Za-z0-9_.-]+$ ]] ||
    mi_die "GITHUB_REPOSITORY must be owner/name, found '${repo}'"
  api=${GITHUB_API_URL:-https://api.github.com}
  api=${api%/}
}

# $1 with the token replaced by ***: for anything a server sent back.
mi_redact() {
  local text=$1
  if [ -n "${GITHUB_TOKEN:-}" ]; then
    text=${text//"$GITHUB_TOKEN"/***}
  fi
  printf '%s' "$text"
}

# mi_api METHOD URL [JSON_FILE]: one request; the body goes to $mi_tmp/body, the headers to
# $mi_tmp/headers, and the HTTP status is printed (000: no answer). The token reaches curl
# on its standard input as a config line, never in its arguments or in a trace.
mi_api() {
  local method=$1 url=$2 data=${3:-}
  local args=(--silent --show-error --max-time 30 --retry 3 --retry-delay 2
    -X "$method" -H 'Accept: application/vnd.github+json' -H 'X-GitHub-Api-Version: 2022-11-28'
    -D "$mi_tmp/headers" -o "$mi_tmp/body" -w '%{http_code}' --config -)
  if [ -n "$data" ]; then
    args+=(-H 'Content-Type: application/json' --data-binary "@$data")
  fi
  : >"$mi_tmp/headers"
  : >"$mi_tmp/body"
  printf 'header = "Authorization: Bearer %s"\n' "$GITHUB_TOKEN" |
    curl "${args[@]}" "$url" 2>"$mi_tmp/curl-error" || true
}

# Fails with what the server said (its `message`, redacted) for a request that got $2.
mi_api_failed() {
  local what=$1 status=$2 message
  message=$(jq -r '.message? // empty' "$mi_tmp/body" 2>/dev/null || true)
  if [ "$status" = 000 ]; then
    message=$(head -c 300 "$mi_tmp/curl-error")
  fi
  mi_die "failed to $what: HTTP $status $(mi_redact "$message")"
}

# The `rel="next"` URL of the last response's Link header, or nothing.
mi_next_link() {
  tr -d '\r' <"$mi_tmp/headers" |
    awk '/^HTTP\// { link = "" } tolower(substr($0, 1, 5)) == "link:" { link = $0 } END { print link }' |
    tr ',' '\n' | sed -n 's/.*<\([^>]*\)>;[[:space:]]*rel="next".*/\1/p' | head -n 1
}
