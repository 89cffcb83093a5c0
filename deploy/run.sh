#!/usr/bin/env bash
# The run command: starts NATS (JetStream) on 127.0.0.1:4222 when none runs, then the
# service on the embedded default (SQLite under ./data/), http://127.0.0.1:8080.
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/services.sh

ensure_nats_running
mkdir -p data
exec cargo run --release --locked -p referral -- serve "$@"
