#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh), then paints the sample photograph in the style of the
# sample painting and prints where the result is.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh "$@"
mkdir -p demo
target/release/stylize image .cache/samples/photo.jpg --style .cache/samples/painting.jpg \
  -o demo/painted.jpg --size "${SIZE:-512}" --iterations "${ITERATIONS:-300}"
echo "the stylized photograph is in $PWD/demo/painted.jpg"
