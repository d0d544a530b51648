#!/usr/bin/env bash
# How close to the scan the equal-tables diff comes as its parts are taken away.
#
#   benches/floor.sh [--runs N]
#
# Builds the release binary as it is, then again with benches/floor.patch applied (at the end,
# whatever happens, the patch comes off and the binary as it is is built again), and runs
# `benches/interleave.sh --equal` with:
#   diff        the diff as it is;
#   no-mixing   the patched binary: every value is still read and folded into its row's hash,
#               but with no product and no finaliser (rotate and add), keys still mixed;
#   values      the same, and no row is added to a bucket digest and no key hash is kept for
#               the duplicate search (DQC_FLOOR=values);
#   keys        only the keys are hashed, no value is read (DQC_FLOOR=keys).
# `values` is what reading the values as the encoders read them costs, whatever the hash; the
# patched binaries' reports say CONSISTENT because both sides' digests stay empty. Needs the
# equal data set of `benches/peers.sh --equal` and a checkout without changes under verifier/.
# The patch is made against the encoders as of c2f781a: when they change, it must be made again
# (`git apply` then stops the script with its error).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/dqc-target}"

runs=10
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
git diff --quiet -- verifier/ || { echo "verifier/ has changes: commit or stash them first" >&2; exit 2; }

out="$(mktemp -d)"
# At the end, whatever happens: the patch comes off, and once a patched binary was built, the
# checkout's is built again (other scripts, such as benches/per-row.sh, run the one in the cache).
patched=""
cleanup() {
  git apply -R benches/floor.patch 2>/dev/null || true
  if [ -n "$patched" ]; then cargo build --quiet --release --workspace --bins; fi
  rm -rf "$out"
}
trap cleanup EXIT

cargo build --release --workspace --bins
cp "$CARGO_TARGET_DIR/release/dqc" "$out/dqc"
git apply benches/floor.patch
patched=yes
cargo build --release --workspace --bins
cp "$CARGO_TARGET_DIR/release/dqc" "$out/dqc-floor"
git apply -R benches/floor.patch
for mode in values keys; do
  printf '#!/bin/sh\nDQC_FLOOR=%s exec "%s" "$@"\n' "$mode" "$out/dqc-floor" >"$out/dqc-$mode"
  chmod +x "$out/dqc-$mode"
done

benches/interleave.sh --runs "$runs" --equal diff="$out/dqc" no-mixing="$out/dqc-floor" \
  values="$out/dqc-values" keys="$out/dqc-keys"
