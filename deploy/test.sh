#!/usr/bin/env bash
# The test command: everything CI runs. Installs and starts what the tests need (nats-server
# binary, PostgreSQL, Chromium and ChromeDriver), then checks formatting and lints, then runs every test of the
# workspace (each NATS test starts its own nats-server on a free port; each PostgreSQL test
# gets a fresh database; SQLite tests use temporary files).
set -euo pipefail
cd "$(dirname "$0")/.."
. deploy/services.sh

ensure_nats_binary
ensure_postgres
ensure_chromium
export REFERRAL_TEST_PG="${REFERRAL_TEST_PG:-postgres://referral:referral@127.0.0.1:5432/postgres}"
drop_stale_test_databases "$REFERRAL_TEST_PG"

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
