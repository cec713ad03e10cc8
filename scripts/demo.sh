#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh), then paints the sample photograph in the style of the
# sample painting and prints where the result is. SIZE (default 512) and ITERATIONS (default 300,
# shared among the coarse-to-fine levels) change the picture; LEVELS (default 3) the pyramid.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
scripts/setup.sh "$@"
setup=$((SECONDS - started))
mkdir -p demo
size=${SIZE:-512}
target/release/stylize image .cache/samples/photo.jpg --style .cache/samples/painting.jpg \
  -o demo/painted.jpg --size "$size" --iterations "${ITERATIONS:-300}" --levels "${LEVELS:-3}"
echo "the stylized photograph is in $PWD/demo/painted.jpg (set-up ${setup} s, painting $((SECONDS - started - setup)) s)"
if ((size < 1024)); then
  echo "for a large one (1024 px, 4 levels; about 3 times the work): SIZE=1024 LEVELS=4 scripts/demo.sh"
fi
