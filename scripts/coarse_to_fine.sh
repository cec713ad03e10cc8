#!/usr/bin/env bash
# Coarse-to-fine measurements (docs/COARSE_TO_FINE.md): `stylize image` at SIZE (default 256) on the
# sample pair and two more pairs from plasma-workspace-wallpapers, real VGG19, CPU, THREADS (2):
#   - one plain scale, 300 L-BFGS iterations (`--levels 1 --precondition none`), on every pair;
#   - on the sample pair, 3 and 2 levels with the coarse iterations given and the finest level run for
#     200, without the bands, read at equal cost against the single-scale run (cost = loss-and-gradient
#     evaluations in units of one at the full size: an evaluation's cost grows with the pixels);
#   - the default (one level, the band preconditioner, 150 iterations; before the fifth session's
#     change 3 levels and 300 iterations, which the 256-px tables of the doc measured) on every pair;
#   - then the time-to-loss table: how long the default takes to reach the total loss one scale
#     ends with (or, when it does not get there, the loss it ends with), against one scale.
# SIZE=512 runs only the single-scale and default runs (the splits are 256-px measurements).
# PAIRS (default "sample water path") picks the pairs; FIRST=default runs each pair's default before
# its single scale (FIRST=single, the default, after). With a fresh OUT on an idle machine, that is
# the side-by-side clock measurement of docs/COARSE_TO_FINE.md, e.g.
#   OUT=$(mktemp -d) SIZE=512 PAIRS=water FIRST=default scripts/coarse_to_fine.sh
# Runs are deterministic; the seconds depend on what else the machine does. OUT (.cache/c2f at
# 256 px, .cache/c2f512 at 512) keeps finished runs: delete a run's JSON to measure it again (the
# single-scale runs' losses and evaluations never change; their seconds do, with the load).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
size=${SIZE:-256}
default_out=.cache/c2f
[[ $size == 256 ]] || default_out=.cache/c2f$size
out=${OUT:-$default_out}
mkdir -p "$out"
if [[ ! -s $out/Path.jpg ]]; then
  (cd "$out" && apt-get download -q plasma-workspace-wallpapers >/dev/null)
  for name in BytheWater FallenLeaf Path ColdRipple; do
    dpkg-deb --fsys-tarfile "$out"/plasma-workspace-wallpapers_*.deb |
      tar -xO "./usr/share/wallpapers/$name/contents/images/2560x1600.jpg" >"$out/$name.jpg"
  done
  rm -f "$out"/plasma-workspace-wallpapers_*.deb
fi
declare -A content=([sample]=.cache/samples/photo.jpg [water]=$out/BytheWater.jpg [path]=$out/Path.jpg)
declare -A style=([sample]=.cache/samples/painting.jpg [water]=$out/FallenLeaf.jpg [path]=$out/ColdRipple.jpg)
run() { # NAME PAIR ARGS...
  local name=$1 pair=$2
  shift 2
  [[ -s $out/$name.json ]] && return
  target/release/stylize image "${content[$pair]}" --style "${style[$pair]}" -o "$out/$name.png" \
    --size "$size" --threads "${THREADS:-2}" --device cpu -q --tolerance 0 --stats "$out/$name.json" "$@"
}
pairs=(${PAIRS:-sample water path})
order=(single default)
[[ ${FIRST:-single} == default ]] && order=(default single)
for pair in "${pairs[@]}"; do
  [[ -v "content[$pair]" ]] || { echo "coarse_to_fine.sh: unknown pair '$pair' in PAIRS (sample, water, path)" >&2; exit 2; }
  for kind in "${order[@]}"; do
    case $kind in
      single) run "single-$pair" "$pair" --levels 1 --iterations 300 --precondition none ;;
      default) run "default-$pair" "$pair" ;;
    esac
  done
done
all_pairs=no
[[ ${pairs[*]} == "sample water path" ]] && all_pairs=yes
if [[ $size == 256 && $all_pairs == yes ]]; then
  for spec in 50,50,200 100,100,200 200,100,200 100,200; do
    run "split-${spec//,/-}" sample --iterations "$spec" --precondition none
  done
fi
.venv/bin/python - "$out" "$size" "$all_pairs" <<'PY'
import json, os, sys
out, size, all_pairs = sys.argv[1], sys.argv[2], sys.argv[3]
load = lambda name: json.load(open(f"{out}/{name}.json"))

def along(s, level, step):
    """The finest level's (cost, loss terms) after each iteration: the coarse levels' cost
    (`level` of each), then the finest level's, iteration by iteration (`step` of each)."""
    cost = sum(level(l) for l in s.get("levels", [])[:-1])
    points = [(cost, s["initial"])]
    for i in s["iterations"]:
        cost += step(i)
        points.append((cost, i["loss"]))
    return points

def curve(s):
    """`along` with the cost in full-size evaluations."""
    full = s["width"] * s["height"]
    return along(s, lambda l: l["evaluations"] * l["width"] * l["height"] / full, lambda i: i["evaluations"])

def at(points, cost):
    return [p for c, p in points if c <= cost + 1e-9][-1]

def timed(s):
    """`along` with the cost in seconds of optimization (set-up not counted)."""
    return along(s, lambda l: l["seconds"], lambda i: i["seconds"])

def reach(points, total):
    """The first point whose total loss is at most `total`, or None."""
    return next(((c, p) for c, p in points if p["total"] <= total), None)

def time_to_loss():
    print(f"Time to the loss: at {size} px, the default's cost (full-size evaluations) and seconds of "
          "optimization to reach the total loss that 300 single-scale iterations end with, ÷ the single "
          "scale's. Where the default does not get there, the same for the total loss it ends with "
          "(what one scale needs to get as far). Seconds: as measured (the two runs may have met "
          "different loads), and side by side: the single scale's evaluations timed at the default's own "
          "finest-level seconds per evaluation (one run, one load). Equal time: the default's final style "
          "loss ÷ the single scale's after as many seconds as the whole default took, side by side.")
    print()
    print("| pair | target: total loss | reached | default: cost, seconds | single scale: cost, seconds | cost ratio | seconds ratio | side by side | equal time: style |")
    print("|---|---|---|---|---|---|---|---|---|")
    for pair in ["sample", "water", "path"]:
        if not all(os.path.exists(f"{out}/{n}-{pair}.json") for n in ("single", "default")):
            continue
        a, d = load(f"single-{pair}"), load(f"default-{pair}")
        ca, cd, ta, td = curve(a), curve(d), timed(a), timed(d)
        target, reached = ca[-1][1]["total"], "yes"
        k = next((k for k, (_, p) in enumerate(cd) if p["total"] <= target), None)
        if k is None:
            target, reached, k = cd[-1][1]["total"], f"no: ends {cd[-1][1]['total'] / ca[-1][1]['total']:.3f}×", len(cd) - 1
        j = next(j for j, (_, p) in enumerate(ca) if p["total"] <= target)
        (cost_d, _), (sec_d, _) = cd[k], td[k]
        (cost_a, _), (sec_a, _) = ca[j], ta[j]
        per_eval = sum(i["seconds"] for i in d["iterations"]) / sum(i["evaluations"] for i in d["iterations"])
        # One scale after as many seconds as the whole default took, counted side by side.
        style_a = at(ca, td[-1][0] / per_eval)["style"]
        print(f"| {pair} | {target:.4e} | {reached} | {cost_d:.0f}, {sec_d:.0f} s | {cost_a:.0f}, {sec_a:.0f} s | "
              f"**{cost_d / cost_a:.2f}** | {sec_d / sec_a:.2f} | {sec_d / (cost_a * per_eval):.2f} | "
              f"{td[-1][1]['style'] / style_a:.3f} |")

if size != "256" or all_pairs != "yes":
    time_to_loss()
    sys.exit()

base = load("single-sample")
single = curve(base)
print(f"Splits on the sample pair at {base['width']}×{base['height']}, read at equal cost against one scale "
      "(ratios: the split's loss ÷ the single-scale loss at the same cost).")
print()
print("| levels: iterations (coarse → fine) | finest level's iterations | cost (full-size evaluations) | total | style | content |")
print("|---|---|---|---|---|---|")
for spec in ["50-50-200", "100-100-200", "200-100-200", "100-200"]:
    s = load(f"split-{spec}")
    points = curve(s)
    for n in (100, 150, 200):
        c, p = points[n]
        b = at(single, c)
        print(f"| {spec.replace('-', ', ')} | {n} | {c:.0f} | {p['total'] / b['total']:.3f} | "
              f"{p['style'] / b['style']:.3f} | {p['content'] / b['content']:.3f} |")
print()
print(f"The default (3 levels, `--iterations 300`) against one scale with 300 iterations, {base['width']} px "
      "on the longest side. Cost ratio: the default's full-size evaluations ÷ the single-scale run's; "
      "loss ratios (the default's ÷ the single scale's) at the end of each run, and against the single-scale "
      "run at the default's cost.")
print()
print("| pair | default's levels | cost ratio | total | style | content | at equal cost: total | style | content | single scale: 300 iterations, evaluations, seconds | default: seconds |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for pair in ["sample", "water", "path"]:
    a, d = load(f"single-{pair}"), load(f"default-{pair}")
    sa, sd = curve(a), curve(d)
    (ca, pa), (cd, pd) = sa[-1], sd[-1]
    pe = at(sa, cd)
    levels = ", ".join(f"{l['iterations']} at {l['width']}" for l in d["levels"])
    print(f"| {pair} | {levels} | **{cd / ca:.2f}** | {pd['total'] / pa['total']:.3f} | "
          f"{pd['style'] / pa['style']:.3f} | {pd['content'] / pa['content']:.3f} | "
          f"{pd['total'] / pe['total']:.3f} | {pd['style'] / pe['style']:.3f} | {pd['content'] / pe['content']:.3f} | "
          f"{a['evaluations']}, {a['seconds']:.0f} s | {d['seconds']:.0f} s |")
print()
time_to_loss()
PY
