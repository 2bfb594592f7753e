#!/usr/bin/env bash
# Rewrites the known-answer vectors in protocol/tests/vectors/ from the current code.
# Only for a deliberate format change: review `git diff protocol/tests/vectors` after.
set -euo pipefail
cd "$(dirname "$0")/.."
SOTTO_REGENERATE_VECTORS=1 cargo test -p sotto-protocol --test 'vectors_*'
git --no-pager diff --stat -- protocol/tests/vectors
