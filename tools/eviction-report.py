#!/usr/bin/env python3
"""Table and picture of a KV-eviction sweep (kvpress-style: accuracy against compression ratio).

usage: tools/eviction-report.py DIR [OUT.svg]

DIR holds `sieve eval --json` outputs: TASK-LENGTH.json for passkey, niah and
niah-multikey (several --attn in one run, so every policy saw the same
prompts), and ppl-LENGTH.json (`--task ppl --continuation N`). A policy's
compression ratio is its `ratio=` (the share of the prompt evicted); for
`streaming:sink=S,window=W` it is 1 - (S + W) / length; `full` is 0.

Prints one markdown table, a row per (ratio, method): accuracy per task and
length, their mean, ppl, and the KV bytes read per decoded token at the
longest length. With OUT.svg, draws accuracy against ratio per task (mean
over the lengths) and ppl against ratio, one line per method.
"""
import glob
import json
import math
import os
import re
import sys

TASKS = ("passkey", "niah", "niah-multikey")
RATIOS = (0.0, 0.25, 0.5, 0.75, 0.875)
COLORS = {"full": "#000000", "snapkv": "#1f77b4", "pyramidkv": "#2ca02c", "tova": "#ff7f0e", "h2o": "#9467bd",
          "streaming": "#d62728"}


def method_and_ratio(attn, length):
    name = attn.split(":")[0]
    m = re.search(r"ratio=([0-9.]+)", attn)
    if m:
        return name, float(m.group(1))
    m = re.search(r"sink=(\d+),window=(\d+)", attn)
    if m:  # the nearest of the swept ratios
        r = 1 - (int(m.group(1)) + int(m.group(2))) / length
        return name, min(RATIOS, key=lambda x: abs(x - r))
    return name, 0.0


def load(folder):
    acc, ppl, reads = {}, {}, {}  # acc[(task, length, method, ratio)] = (correct, samples)
    ppl_label = "ppl"
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            try:
                d = json.load(f)
            except json.JSONDecodeError:
                continue  # a run still going
        for r in d["results"]:
            key = method_and_ratio(r["attn"], r["length"])
            if d["task"] == "ppl":
                ppl[key] = r["ppl"]
                tail = r.get("continuation", 0)
                ppl_label = f"ppl {r['length'] // 1024}K" + (f" (last {tail})" if tail else "")
            else:
                acc[(d["task"], r["length"]) + key] = (r["correct"], r["samples"])
                reads[(r["length"],) + key] = r["kv_bytes_per_token"]
    return acc, ppl, reads, ppl_label


def order(method):
    return ["full", "snapkv", "pyramidkv", "tova", "h2o", "streaming"].index(method) if method in COLORS else 99


def mean_accuracy(acc, task, method, ratio, lengths):
    cells = [acc[(task, l, method, ratio)] for l in lengths if (task, l, method, ratio) in acc]
    return sum(c for c, _ in cells) / sum(n for _, n in cells) if cells else None


def table(acc, ppl, reads, ppl_label):
    columns = sorted({(t, l) for (t, l, _, _) in acc}, key=lambda c: (TASKS.index(c[0]), c[1]))
    longest = max(l for _, l in columns)
    rows = sorted({k[2:] for k in acc} | set(ppl), key=lambda k: (k[1], order(k[0])))
    head = [f"{t} {l // 1024}K" for t, l in columns] + ["mean"] + ([ppl_label] if ppl else []) + [f"KV MB/token @ {longest // 1024}K"]
    print("| ratio | method | " + " | ".join(head) + " |")
    print("| ---: | --- |" + " ---: |" * len(head))
    for method, ratio in rows:
        cells, total, samples = [], 0, 0
        for t, l in columns:
            c = acc.get((t, l, method, ratio))
            cells.append(f"{c[0] / c[1]:.2f}" if c else "")
            if c:
                total, samples = total + c[0], samples + c[1]
        cells.append(f"**{total / samples:.2f}**" if samples else "")
        if ppl:
            cells.append(f"{ppl[(method, ratio)]:.2f}" if (method, ratio) in ppl else "")
        r = reads.get((longest, method, ratio))
        cells.append(f"{r / 1e6:.1f}" if r else "")
        print(f"| {ratio:g} | `{method}` | " + " | ".join(cells) + " |")


def picture(acc, ppl, out_path):
    lengths = sorted({k[1] for k in acc})
    methods = sorted({k[2] for k in acc} | {k[0] for k in ppl}, key=order)
    W, H, M = 250, 200, 48
    panels = [t for t in TASKS if any(k[0] == t for k in acc)] + (["ppl"] if ppl else [])
    width, height = len(panels) * (W + M) + M + 110, H + 2 * M + 16
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{M}" y="18" font-size="13">KV eviction on the test model: accuracy (mean over '
           f'{", ".join(str(l) for l in lengths)} tokens) and ppl against the share of the prompt evicted</text>']
    px = lambda x0, r: x0 + r / RATIOS[-1] * W
    for i, panel in enumerate(panels):
        x0, y0 = M + i * (W + M), M + 10
        svg.append(f'<rect x="{x0}" y="{y0}" width="{W}" height="{H}" fill="none" stroke="#888"/>')
        for r in RATIOS:
            svg.append(f'<text x="{px(x0, r)}" y="{y0 + H + 14}" text-anchor="middle">{r:g}</text>')
        svg.append(f'<text x="{x0 + W / 2}" y="{y0 + H + 30}" text-anchor="middle">compression ratio</text>')
        if panel == "ppl":
            vals = [v for v in ppl.values() if math.isfinite(v)]
            lo, hi = math.log(min(vals)), math.log(max(vals))
            py = lambda v: y0 + (1 - (math.log(v) - lo) / max(hi - lo, 1e-9)) * H
            svg.append(f'<text x="{x0 + W / 2}" y="{y0 - 6}" text-anchor="middle">ppl of the continuation (log)</text>')
            for v in sorted({round(math.exp(lo + (hi - lo) * k / 4), 1) for k in range(5)}):
                svg.append(f'<line x1="{x0}" x2="{x0 + W}" y1="{py(v)}" y2="{py(v)}" stroke="#eee"/>')
                svg.append(f'<text x="{x0 - 4}" y="{py(v) + 4}" text-anchor="end">{v:g}</text>')
            series = {m: [(r, ppl[(m, r)]) for r in RATIOS if (m, r) in ppl] for m in methods}
        else:
            py = lambda a: y0 + (1 - a) * H
            svg.append(f'<text x="{x0 + W / 2}" y="{y0 - 6}" text-anchor="middle">{panel} accuracy</text>')
            for t in (0, 0.25, 0.5, 0.75, 1):
                svg.append(f'<line x1="{x0}" x2="{x0 + W}" y1="{py(t)}" y2="{py(t)}" stroke="#eee"/>')
                svg.append(f'<text x="{x0 - 4}" y="{py(t) + 4}" text-anchor="end">{t:g}</text>')
            series = {}
            for m in methods:
                pts = [(r, mean_accuracy(acc, panel, m, r, lengths)) for r in RATIOS]
                series[m] = [(r, a) for r, a in pts if a is not None]
        full = series.pop("full", [])
        if full:  # full's level across the panel, for reference
            y = py(full[0][1])
            svg.append(f'<line x1="{x0}" x2="{x0 + W}" y1="{y:.1f}" y2="{y:.1f}" stroke="#000" stroke-dasharray="4 3"/>')
        for m, pts in series.items():  # each method starts from full's point at ratio 0
            pts = full[:1] + pts
            if pts:
                line = " ".join(f"{px(x0, r):.1f},{py(v):.1f}" for r, v in pts)
                svg.append(f'<polyline points="{line}" fill="none" stroke="{COLORS.get(m, "#888")}" stroke-width="2"/>')
                for r, v in pts:
                    svg.append(f'<circle cx="{px(x0, r):.1f}" cy="{py(v):.1f}" r="2.5" fill="{COLORS.get(m, "#888")}"/>')
    lx = len(panels) * (W + M) + M - 10
    for i, m in enumerate(methods):
        y = M + 24 + 18 * i
        dash = ' stroke-dasharray="4 3"' if m == "full" else ""
        svg.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{COLORS.get(m, "#888")}" stroke-width="2"{dash}/>')
        svg.append(f'<text x="{lx + 24}" y="{y}">{m}</text>')
    svg.append("</svg>")
    with open(out_path, "w") as f:
        f.write("\n".join(svg) + "\n")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    acc, ppl, reads, ppl_label = load(sys.argv[1])
    if not acc and not ppl:
        sys.exit(f"no sieve eval results in {sys.argv[1]}")
    table(acc, ppl, reads, ppl_label)
    if len(sys.argv) == 3:
        picture(acc, ppl, sys.argv[2])


if __name__ == "__main__":
    main()
