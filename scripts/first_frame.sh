#!/usr/bin/env bash
# The first video frame coarse to fine (docs/COARSE_TO_FINE.md, "The first video frame at 256 px"):
# the sample pair through `stylize image` at SIZE (256), as `stylize video` paints its first frame,
# real VGG19, CPU, THREADS (2), `--tolerance 0`: one scale with 1,000 L-BFGS iterations (today's
# video default) against 3 levels sharing BUDGETS (1000 800 700 600 500; `BUDGETS=` for none) by
# `stylize::split`, and against SPLITS (none unless given), each one count per level, coarse to fine
# (e.g. SPLITS="200,100,300 200,300").
# Prints each run's cost in full-size evaluations (an evaluation at a level costs its share of the
# pixels) ÷ the single scale's, its final losses ÷ the single scale's, where it reaches the single
# scale's final total loss, and each level's seconds per evaluation (they depend on the load).
# Runs are deterministic; OUT (.cache/first_frame) keeps finished runs: delete a JSON to run it again.
set -euo pipefail
cd "$(dirname "$0")/.."
[[ ${NO_SETUP:-} == 1 ]] || scripts/setup.sh
size=${SIZE:-256}
out=${OUT:-.cache/first_frame}
stylize=${STYLIZE:-target/release/stylize}
mkdir -p "$out"
run() { # NAME ARGS...
  local name=$1
  shift
  [[ -s $out/$name.json ]] && return
  "$stylize" image .cache/samples/photo.jpg --style .cache/samples/painting.jpg -o "$out/$name.png" \
    --size "$size" --threads "${THREADS:-2}" --device cpu -q --tolerance 0 --stats "$out/$name.json" "$@"
}
budgets=(${BUDGETS-1000 800 700 600 500})
splits=(${SPLITS:-})
run single --levels 1 --iterations 1000
for b in "${budgets[@]}"; do
  run "levels3-$b" --levels 3 --iterations "$b"
done
for s in "${splits[@]}"; do
  run "split-${s//,/-}" --iterations "$s"
done
BUDGETS="${budgets[*]}" SPLITS="${splits[*]}" .venv/bin/python - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
budgets, splits = os.environ["BUDGETS"].split(), os.environ["SPLITS"].split()
load = lambda name: json.load(open(f"{out}/{name}.json"))

def curve(s):
    """(cost in full-size evaluations, loss terms) after each of the finest level's iterations, the
    coarse levels' cost first."""
    full = s["width"] * s["height"]
    cost = sum(l["evaluations"] * l["width"] * l["height"] / full for l in s.get("levels", [])[:-1])
    points = [(cost, s["initial"])]
    for i in s["iterations"]:
        cost += i["evaluations"]
        points.append((cost, i["loss"]))
    return points

base = load("single")
single = curve(base)
end = single[-1][1]
print(f"The sample pair at {base['width']}×{base['height']}, `--tolerance 0`, CPU, {base['threads']} threads. Cost: "
      "loss-and-gradient evaluations in units of one at the full size; ratios ÷ one scale's 1,000 iterations "
      "at their end. Reached: the cost at which the run's total loss first falls to one scale's final "
      "total (÷ one scale's cost to its end). Equal cost: the run's final total ÷ one scale's after as "
      "much cost.")
print()
print("| run | iterations (coarse → fine) | evaluations by level | cost | cost ratio | total | style | content | reached | at equal cost: total | seconds | s per evaluation by level |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
runs = [("one scale", "single")] + [(f"3 levels, {b}", f"levels3-{b}") for b in budgets]
runs += [(f"{s.count(',') + 1} levels, {s.replace(',', ', ')}", f"split-{s.replace(',', '-')}") for s in splits]
for label, name in runs:
    if not os.path.exists(f"{out}/{name}.json"):
        continue
    s = load(name)
    points = curve(s)
    cost, last = points[-1]
    levels = s.get("levels") or [{"width": s["width"], "height": s["height"], "iterations": len(s["iterations"]),
                                  "evaluations": s["evaluations"], "seconds": s["seconds"] - s.get("setup_seconds", 0)}]
    its = ", ".join(str(l["iterations"]) for l in levels)
    evals = ", ".join(f"{l['evaluations']} at {l['width']}×{l['height']}" for l in levels)
    spe = ", ".join(f"{l['seconds'] / l['evaluations']:.3f}" for l in levels)
    reached = next((c for c, p in points if p["total"] <= end["total"]), None)
    reached = f"{reached:.0f} ({reached / single[-1][0]:.2f}×)" if reached is not None else "no"
    equal = [p for c, p in single if c <= cost + 1e-9][-1]
    print(f"| {label} | {its} | {evals} | {cost:.0f} | **{cost / single[-1][0]:.2f}** | "
          f"{last['total'] / end['total']:.3f} | {last['style'] / end['style']:.3f} | "
          f"{last['content'] / end['content']:.3f} | {reached} | {last['total'] / equal['total']:.3f} | "
          f"{s['seconds']:.0f} | {spe} |")
print()
print(f"One scale's end: total {end['total']:.4e}, style {end['style']:.4e}, content {end['content']:.4e}.")
PY
