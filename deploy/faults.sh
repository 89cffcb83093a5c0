#!/usr/bin/env bash
# The fault suite at full size: the same scenarios as `cargo test -p loadgen --test faults`
# (kill -9 the service three times, restart nats-server, restart PostgreSQL, kill between
# commit and publish), each with LOADGEN_FAULT_CARDS cards (default 3,000) instead of 300,
# in release mode. Each scenario starts its own nats-server, PostgreSQL cluster (Debian's
# initdb/pg_ctl, temporary directory, free loopback port) and service, and kills them when
# it ends. Usage: bash deploy/faults.sh [cards]
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/services.sh
ensure_nats_binary
ensure_postgres
export LOADGEN_FAULT_CARDS="${1:-${LOADGEN_FAULT_CARDS:-3000}}"
cargo test --release --locked -p loadgen --test faults -- --test-threads=1 --nocapture
