#!/usr/bin/env bash
# Builds the archive that `cargo binstall cargo-meshinsight` downloads (Cargo.toml's
# [package.metadata.binstall]): dist/cargo-meshinsight-<version>-<target>.tar.gz, holding
# cargo-meshinsight-<version>-<target>/cargo-meshinsight. Attach it to the GitHub release
# v<version>. Usage: ci/release-archive.sh [TARGET] (default: this machine's).
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
target=${1:-$host}
version=$(cargo metadata --no-deps --format-version 1 |
  jq -r '.packages[] | select(.name == "cargo-meshinsight") | .version')
if [ "$target" = "$host" ]; then
  cargo build --release --locked -p cargo-meshinsight
  built=target/release/cargo-meshinsight
else
  cargo build --release --locked -p cargo-meshinsight --target "$target"
  built=target/$target/release/cargo-meshinsight
fi
name="cargo-meshinsight-$version-$target"
rm -rf "dist/$name" "dist/$name.tar.gz"
mkdir -p "dist/$name"
cp "$built" README.md "dist/$name/"
tar -C dist -czf "dist/$name.tar.gz" "$name"
printf '%s\n' "dist/$name.tar.gz"
