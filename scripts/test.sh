#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh), then runs every check and test of the project.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "$@"

echo "== gradient check of the hand-written backward pass (tiny model, float64 reference)"
.venv/bin/python scripts/gradcheck.py --model models/tiny

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy -- -D warnings"
cargo clippy --release --locked --all-targets --quiet -- -D warnings

echo "== cargo test"
cargo test --release --locked
