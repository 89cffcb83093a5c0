#!/usr/bin/env bash
# The run command: starts NATS (JetStream) on 127.0.0.1:4222 when none runs, then the
# service on the embedded default (SQLite under ./data/), http://127.0.0.1:8080, with the demo
# city loaded (once per database) and a demo key printed for every role. Arguments go to
# `referral demo` (e.g. --cards 2000). `bash deploy/run.sh serve` runs without the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/services.sh

ensure_nats_running
mkdir -p data
if [ "${1:-}" = serve ]; then
    shift
    exec cargo run --release --locked -p referral -- serve "$@"
fi
exec cargo run --release --locked -p referral -- demo "$@"
