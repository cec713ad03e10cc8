#!/usr/bin/env python3
"""Replaces (or appends) one section of docs/BENCHMARKS.md with standard input.

  bench_section.py NAME TITLE SCRIPT < body

A section runs from `<!-- section: NAME -->` to `<!-- end: NAME -->`, so a benchmark script can
rewrite its own figures and keep everyone else's.
"""
import datetime
import pathlib
import re
import subprocess
import sys

name, title, script = sys.argv[1:4]
body = sys.stdin.read().strip()
path = pathlib.Path("docs/BENCHMARKS.md")
text = path.read_text() if path.exists() else ""
cpu = subprocess.run("lscpu | sed -n 's/^Model name: *//p' | head -1", shell=True,
                     capture_output=True, text=True).stdout.strip()
cores = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
load = open("/proc/loadavg").read().split()[0]
block = (f"<!-- section: {name} -->\n## {title}\n\n"
         f"`{script}`, {datetime.date.today()}, {cpu} ({cores} cores), load average {load} at the end.\n\n"
         f"{body}\n<!-- end: {name} -->")
pattern = re.compile(rf"<!-- section: {re.escape(name)} -->.*?<!-- end: {re.escape(name)} -->", re.S)
if pattern.search(text):
    text = pattern.sub(lambda _: block, text)
else:
    if not text.startswith("# Benchmarks"):
        text = "# Benchmarks\n\nThe latest figures of each benchmark script's section.\n"
    text = text.rstrip() + "\n\n" + block + "\n"
path.write_text(text)
