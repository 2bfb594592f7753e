#!/usr/bin/env bash
# Runs the same checks as CI (.ci/run) on your machine.
set -euo pipefail
exec "$(dirname "$0")/../.ci/run"
