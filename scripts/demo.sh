#!/usr/bin/env bash
# The main job on a plain Python machine: set up when needed, then run the ser_ros demo
# (node + a player streaming a recording onto /audio/audio + a printer of /emotion).
# Usage: scripts/demo.sh [ser-demo arguments, see ser-demo --help]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup_env.sh"
source "$ROOT/scripts/env.sh"
exec ser-demo "$@"
