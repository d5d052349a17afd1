#!/usr/bin/env bash
# Starts `hls-origin demo` on a free port and plays it with hls.js in headless Chromium, as a
# plain poller and in lowLatencyMode.
# Needs: chromium (Debian package), node + npm. Usage: tests/browser/run.sh [path/to/hls-origin]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../../target/debug/hls-origin}"
(cd "$here" && npm install --no-audit --no-fund --silent)
log="$(mktemp)"
"$bin" demo --listen 127.0.0.1:0 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do
  addr="$(grep -o 'listening on [0-9.:]*' "$log" | head -1 | cut -d' ' -f3 || true)"
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { cat "$log"; echo "demo did not start"; exit 1; }
# Once as a plain poller, once in lowLatencyMode (blocking playlist reload, _HLS_msn).
timeout 90 node "$here/play.js" "http://$addr/live/demo/index.m3u8"
timeout 90 node "$here/play.js" "http://$addr/live/demo/index.m3u8" ll
