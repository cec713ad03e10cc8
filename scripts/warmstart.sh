#!/usr/bin/env bash
# The warm-start measurement of issue 3 (item 2), used to choose the default `--iterations FIRST,REST`
# of `stylize video`: on a clip with moderate motion, the final loss of every frame
#   - from a cold start (`--init content --iterations K,K`) for K in $KS, and
#   - from a warm start (`--init prev --iterations FIRST,k`) for k in $WS,
# then, for each K, the smallest k whose loss on frames 2..N is at most the cold start's loss at K.
# A second part checks the steady state, where the first frame's larger budget has been forgotten:
# warm runs for k in $LONG_WS over a $LONG-frame clip, against cold runs on its last $TAIL frames only.
# Prints markdown tables (also left in $OUT/table.md); docs/WARMSTART.md holds a run of it.
#
# Settings (environment): FRAMES=8 SIZE=128 KS="25 50 100" WS="5 10 20 40" FIRST=100
#   LONG=24 TAIL=4 LONG_WS="5 10 20 40" (LONG=0 skips the second part)
#   WARM_TOLERANCE=0 (the warm runs' --tolerance: 0 gives every frame its k iterations; 0.003 is
#   `stylize video`'s default for warm frames)
#   SPEED=100 (pan speed in pixels per second of the 320×240 clip; at 12 fps and --size 128 that is
#   100/12 × 128/320 ≈ 3.3 px of motion per frame at processing size)
#   STYLIZE=target/release/stylize  NO_SETUP=1 (skip scripts/setup.sh)  OUT=.cache/warmstart
#   REUSE=1 (keep the runs whose stats are already in $OUT, to resume an interrupted measurement)
# Cost at the defaults: about 5,600 loss evaluations, 12–15 minutes on 2 CPU cores.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ -n "${NO_SETUP:-}" ]] || scripts/setup.sh
FRAMES=${FRAMES:-8}
SIZE=${SIZE:-128}
KS=${KS:-25 50 100}
WS=${WS:-5 10 20 40}
FIRST=${FIRST:-100}
SPEED=${SPEED:-100}
LONG=${LONG:-24}
TAIL=${TAIL:-4}
LONG_WS=${LONG_WS:-5 10 20 40}
WARM_TOLERANCE=${WARM_TOLERANCE:-0}
STYLIZE=${STYLIZE:-target/release/stylize}
OUT=${OUT:-.cache/warmstart}
STYLE=.cache/samples/painting.jpg
mkdir -p "$OUT"

# The clips: the sample photograph scaled to 640×400, a 320×240 window panning right at $SPEED px/s,
# at 12 fps: clip.mp4 1 s long (the first $FRAMES frames are used), long.mp4 $LONG frames.
clip() { # name seconds
  ffmpeg -nostdin -v error -y -loop 1 -i .cache/samples/photo.jpg \
    -vf "scale=640:-2,crop=320:240:x='20+t*$SPEED':y=40" -t "$2" -r 12 -pix_fmt yuv420p \
    -c:v libx264 -crf 12 "$OUT/$1.mp4"
}
clip clip 1
run() { # clip name init iterations stylize-options…
  local t0=$SECONDS clip=$1 name=$2 init=$3 its=$4
  shift 4
  if [[ -n "${REUSE:-}" && -s "$OUT/$name.json" ]]; then echo "$name: reused" >&2; return; fi
  nice -n 5 "$STYLIZE" video "$OUT/$clip.mp4" -s "$STYLE" -o "$OUT/$name.mp4" --size "$SIZE" \
    --init "$init" --iterations "$its" --stats "$OUT/$name.json" --device cpu -q "$@"
  echo "$name: --init $init --iterations $its $* ($((SECONDS - t0)) s)" >&2
}
# Every frame of a cold run gets its K iterations, and a warm run's frames their k unless
# WARM_TOLERANCE (the stopping rule for warm frames, --tolerance) is given.
for K in $KS; do run clip "cold$K" content "$K,$K" --frames "$FRAMES" --tolerance 0; done
for k in $WS; do run clip "warm$k" prev "$FIRST,$k" --frames "$FRAMES" --tolerance "$WARM_TOLERANCE"; done
if ((LONG > 0)); then
  clip long "$(.venv/bin/python -c "print($LONG / 12)")"
  # --start begins at the first frame at or after that time: a quarter frame before frame LONG-TAIL
  # (0-based), so that rounding cannot skip it (checked: it gives the same picture as that frame).
  start=$(.venv/bin/python -c "print(($LONG - $TAIL - 0.25) / 12)")
  for K in $KS; do run long "tailcold$K" content "$K,$K" --start "$start" --frames "$TAIL" --tolerance 0; done
  for k in $LONG_WS; do run long "longwarm$k" prev "$FIRST,$k" --frames "$LONG" --tolerance "$WARM_TOLERANCE"; done
fi

.venv/bin/python - "$OUT" "$FRAMES" "$SIZE" "$FIRST" "$KS" "$WS" "$LONG" "$TAIL" "$LONG_WS" <<'PY' | tee "$OUT/table.md"
import json, sys
out, frames, size, first = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
Ks, ws = [int(x) for x in sys.argv[5].split()], [int(x) for x in sys.argv[6].split()]
long_, tail, long_ws = int(sys.argv[7]), int(sys.argv[8]), [int(x) for x in sys.argv[9].split()]
def load(name, n=frames):
    fs = json.load(open(f"{out}/{name}.json"))["frames"]
    assert len(fs) == n, f"{name}: {len(fs)} frames, expected {n}"
    return fs
cold = {K: load(f"cold{K}") for K in Ks}
warm = {k: load(f"warm{k}") for k in ws}
later = range(1, frames)  # frames 2..N (1-based): every frame that has a previous one
def loss(fs): return [fs[i]["loss"]["total"] for i in later]
def evals(fs): return sum(fs[i]["evaluations"] for i in later) / len(later)
def mean(xs): return sum(xs) / len(xs)
M = 1e6
print(f"Final total loss (×10⁶) on frames 2..{frames}, `--size {size}`; mean, worst (highest) frame, "
      "and mean loss evaluations per frame.\n")
print("| start | iterations per frame | mean loss | worst frame | evaluations/frame | loss per frame 2.." + str(frames) + " |")
print("|---|---|---|---|---|---|")
for K in Ks:
    l = loss(cold[K])
    print(f"| cold (`--init content`) | {K} | {mean(l)/M:.3f} | {max(l)/M:.3f} | {evals(cold[K]):.1f} | "
          + " ".join(f"{x/M:.2f}" for x in l) + " |")
for k in ws:
    l = loss(warm[k])
    print(f"| warm (`--init prev`, first frame {first}) | {k} | {mean(l)/M:.3f} | {max(l)/M:.3f} | {evals(warm[k]):.1f} | "
          + " ".join(f"{x/M:.2f}" for x in l) + " |")
print("\nFor each cold budget K, the smallest warm budget k (of " + ", ".join(map(str, ws)) + ") that matches it:"
      " *mean* = mean warm loss ≤ mean cold loss; *every frame* = warm loss ≤ cold loss on each frame"
      " (worst ratio warm/cold ≤ 1). K/k ≥ 5 is the issue's claim.\n")
print("| K (cold) | k (mean) | K/k | k (every frame) | K/k | worst warm/cold ratio at that k |")
print("|---|---|---|---|---|---|")
for K in Ks:
    c = loss(cold[K])
    km = next((k for k in ws if mean(loss(warm[k])) <= mean(c)), None)
    ratios = {k: max(w / x for w, x in zip(loss(warm[k]), c)) for k in ws}
    kw = next((k for k in ws if ratios[k] <= 1), None)
    f = lambda k: (str(k), f"{K/k:.1f}") if k else (f"> {ws[-1]}", f"< {K/ws[-1]:.1f}")
    shown = kw if kw else ws[-1]
    print(f"| {K} | {f(km)[0]} | {f(km)[1]} | {f(kw)[0]} | {f(kw)[1]} | {ratios[shown]:.3f} (k = {shown}) |")
if long_ > 0:
    tcold = {K: [f["loss"]["total"] for f in load(f"tailcold{K}", tail)] for K in Ks}
    lwarm = {k: [f["loss"]["total"] for f in load(f"longwarm{k}", long_)] for k in long_ws}
    print(f"\nSteady state: frames {long_ - tail + 1}..{long_} of a {long_}-frame clip (same motion), "
          f"cold runs on those frames only, warm runs over the whole clip (first frame {first}). "
          f"Loss ×10⁶; the last column lists the cold budgets K that the warm run matches on every one of these frames.\n")
    print("| start | iterations per frame | mean loss | worst frame | loss per frame | every frame ≤ cold K = |")
    print("|---|---|---|---|---|---|")
    for K in Ks:
        l = tcold[K]
        print(f"| cold | {K} | {mean(l)/M:.3f} | {max(l)/M:.3f} | " + " ".join(f"{x/M:.2f}" for x in l) + " | |")
    for k in long_ws:
        l = lwarm[k][-tail:]
        ok = [K for K in Ks if all(w <= c for w, c in zip(l, tcold[K]))]
        r = ", ".join(f"{K} (K/k = {K/k:.1f})" for K in ok) or "none"
        print(f"| warm | {k} | {mean(l)/M:.3f} | {max(l)/M:.3f} | " + " ".join(f"{x/M:.2f}" for x in l) + f" | {r} |")
    print(f"\nWarm loss over the whole {long_}-frame clip (×10⁶, frames 1..{long_}):\n")
    for k in long_ws:
        print(f"- k = {k}: " + " ".join(f"{f/M:.2f}" for f in lwarm[k]))
PY
