#!/usr/bin/env python3
"""The warping error at a plan's seams against the median of the other frames, from the JSON of
`stylize metrics`, for each rendering named: seams.py PLAN NAME=METRICS.json ..."""
import json
import statistics
import sys

plan = json.load(open(sys.argv[1]))
seams = [s["first"] for s in plan["segments"][1:]]
fade = max(s["warmup"] for s in plan["segments"])
for arg in sys.argv[2:]:
    name, path = arg.split("=", 1)
    frames = json.load(open(path))["frames"]
    err = {f["frame"]: f["warping_error"] for f in frames if f["warping_error"] is not None}
    near = {s + d for s in seams for d in range(-fade, 1)}
    median = statistics.median(v for k, v in err.items() if k not in near)
    at = ", ".join(f"{s}: {err[s] / median:.2f}x" for s in seams)
    worst = max(err[k] for k in near if k in err) / median
    print(f"{name}: median warping error {median:.6f}; at the seams (frame: error / median) {at}; "
          f"worst over the {fade} frames before each seam {worst:.2f}x")
