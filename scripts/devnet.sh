#!/usr/bin/env bash
# Runs a local devnet of real sotto-node processes until Ctrl-C:
#   scripts/devnet.sh                     # 8 nodes in target/devnet, ports 47000+
#   scripts/devnet.sh --nodes 12 --base-port 52000
# Builds sotto-node, swarm-sim and the `sotto` app in release first; every argument goes to
# `swarm-sim devnet` (see `swarm-sim devnet --help`). Clients join with
# target/devnet/bootstrap.txt once it is printed.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

cargo build --release --manifest-path "$root/Cargo.toml" -p sotto-node -p swarm-sim -p sotto-chat

args=("$@")
# The default data directory is relative to the current directory; anchor it
# at the repository so the script works from anywhere.
has_dir=0
for a in "$@"; do
  case "$a" in
    --data-dir|--data-dir=*) has_dir=1 ;;
  esac
done
if [ "$has_dir" -eq 0 ]; then
  args+=(--data-dir "$root/target/devnet")
fi

exec "$target/release/swarm-sim" devnet "${args[@]}"
