#!/usr/bin/env bash
# Side-by-side benchmark of hls-origin against nginx on this machine (see benches/harness.py).
# Needs nginx and wrk (installed here if missing). Usage: benches/run.sh [--quick]
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v nginx >/dev/null 2>&1 || need+=(nginx)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
fi
cargo build --release --bins --benches
python3 benches/harness.py "$@"
# Blocking playlist reload: wake-up latency and memory per held request (no nginx equivalent).
python3 benches/blocking.py "$@"
