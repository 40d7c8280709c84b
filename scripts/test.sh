#!/usr/bin/env bash
# Run the whole ser_ros test suite, setting the environment up first when needed (idempotent).
# Usage: scripts/test.sh [pytest arguments]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
source "$ROOT/scripts/env.sh"
cd "$ROOT"
exec python -m pytest -p no:cacheprovider "$@"
