#!/usr/bin/env bash
# Sets up a fresh machine (scripts/setup.sh), then paints the sample photograph in the style of the
# sample painting and prints where the result is, with `stylize image`'s defaults: one level, the
# band preconditioner, 150 iterations. SIZE (default 512) and ITERATIONS change the picture.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS
scripts/setup.sh "$@"
setup=$((SECONDS - started))
mkdir -p demo
size=${SIZE:-512}
target/release/stylize image .cache/samples/photo.jpg --style .cache/samples/painting.jpg \
  -o demo/painted.jpg --size "$size" --iterations "${ITERATIONS:-150}"
echo "the stylized photograph is in $PWD/demo/painted.jpg (set-up ${setup} s, painting $((SECONDS - started - setup)) s)"
if ((size < 1024)); then
  echo "for a large one (1024 px; about 4 times the work): SIZE=1024 scripts/demo.sh"
fi
