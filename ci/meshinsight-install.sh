#!/usr/bin/env bash
# Installs cargo-meshinsight $MESHINSIGHT_VERSION (the version the workflows pin) once per
# version, and points the job's later steps at it (MESHINSIGHT_BIN in $GITHUB_ENV); prints
# the binary's path.
#   MESHINSIGHT_VERSION  the version to install (required)
#   MESHINSIGHT_ROOT     where versions are kept, one directory each (default
#                        $RUNNER_TOOL_CACHE/cargo-meshinsight, else ~/.cache/cargo-meshinsight);
#                        a directory the job cannot write must hold the version already
#   MESHINSIGHT_SOURCE   build from this directory (an unpacked .crate or the crate in a
#                        checkout) instead of crates.io
#   MESHINSIGHT_BIN      a binary installed by the runner's administrator (root-owned, named
#                        in the sudoers rule): used when it is this version, never rebuilt
set +x
set -euo pipefail
. "$(dirname "$0")/meshinsight-lib.sh"

version=${MESHINSIGHT_VERSION:-}
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$ ]] ||
  mi_die "MESHINSIGHT_VERSION must be a version like 0.1.0, found '$version'"
base=${MESHINSIGHT_ROOT:-${RUNNER_TOOL_CACHE:-$HOME/.cache}/cargo-meshinsight}
root="$base/$version"
bin="$root/bin/cargo-meshinsight"

installed() { [ -x "$bin" ] && [ "$("$bin" meshinsight --version 2>/dev/null)" = "cargo-meshinsight $version" ]; }

if [ -n "${MESHINSIGHT_BIN:-}" ]; then
  bin=$MESHINSIGHT_BIN
  installed || mi_die "MESHINSIGHT_BIN=$bin is not cargo-meshinsight $version: install that version there (ci/README.md \"Runner setup\")"
  mi_note "cargo-meshinsight $version is installed at $bin"
  printf '%s\n' "$bin"
  exit 0
fi

if installed; then
  mi_note "cargo-meshinsight $version is installed at $bin"
else
  mkdir -p "$base" 2>/dev/null || true
  [ -w "$base" ] || mi_die "$base is not writable and has no cargo-meshinsight $version: install it there once as its owner with \`cargo install --locked --version $version --root $root cargo-meshinsight\`"
  if [ -n "${MESHINSIGHT_SOURCE:-}" ]; then
    cargo install --locked --root "$root" --path "$MESHINSIGHT_SOURCE"
  else
    cargo install --locked --root "$root" --version "=$version" cargo-meshinsight
  fi
  installed || mi_die "$bin does not say it is cargo-meshinsight $version: $("$bin" meshinsight --version 2>&1 | head -n 1)"
fi
if [ -n "${GITHUB_ENV:-}" ]; then
  printf 'MESHINSIGHT_BIN=%s\n' "$bin" >>"$GITHUB_ENV"
fi
printf '%s\n' "$bin"
