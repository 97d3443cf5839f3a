#!/usr/bin/env python3
"""Tables and a picture of the RoPE-extension runs in a folder.

usage: tools/rope-report.py DIR [OUT.svg]

DIR holds `sieve eval --json` outputs named TASK-ROPE-ATTN.json (passkey,
niah: accuracy per length) and ppl-stream-ROPE.json. Prints markdown tables
(accuracy per length for each rope and policy; ppl-stream per segment) and,
with OUT.svg, draws two panels: passkey accuracy against length, and
ppl-stream perplexity against position (log scale), one line per rope.
"""
import glob
import json
import math
import os
import sys

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]


def load(folder):
    retrieval, streams = {}, {}
    for path in sorted(glob.glob(os.path.join(folder, "*.json"))):
        with open(path) as f:
            try:
                d = json.load(f)
            except json.JSONDecodeError:
                continue  # a run still going
        task, rope = d["task"], d.get("rope", "none")
        for r in d["results"]:
            if task == "ppl-stream":
                streams[rope] = r
            else:
                cell = retrieval.setdefault((task, rope, r["attn"]), {})
                n, c = cell.get(r["length"], (0, 0))
                cell[r["length"]] = (n + r["samples"], c + r["correct"])
    return retrieval, streams


def short(spec):
    """yarn:factor=8,original=8192,beta_fast=32,beta_slow=1 -> yarn:factor=8 (defaults dropped)."""
    keep = [p for p in spec.split(":", 1)[-1].split(",") if p.startswith(("factor=", "base="))] if ":" in spec else []
    return spec.split(":")[0] + (":" + ",".join(keep) if keep else "")


def tables(retrieval, streams):
    for task in ("passkey", "niah", "niah-multikey"):
        rows = {k: v for k, v in retrieval.items() if k[0] == task}
        if not rows:
            continue
        lengths = sorted({l for cell in rows.values() for l in cell})
        print(f"\n{task} accuracy (correct / samples, random depth)\n")
        print("| rope | attention | " + " | ".join(str(l) for l in lengths) + " |")
        print("| --- | --- |" + " ---: |" * len(lengths))
        for (_, rope, attn), cell in sorted(rows.items(), key=lambda kv: (kv[0][2] != "full", kv[0][1] != "none", kv[0][1])):
            vals = [f"{cell[l][1] / cell[l][0]:.2f} ({cell[l][1]}/{cell[l][0]})" if l in cell else "" for l in lengths]
            print(f"| `{short(rope)}` | `{attn.split(':')[0]}` | " + " | ".join(vals) + " |")
    if streams:
        ends = sorted({s["end"] for r in streams.values() for s in r["segments"]})
        picks = [e for e in ends if e in (2048, 8192, 16384, 24576, 32768)] or ends
        print("\nppl-stream: perplexity of the segment ending at each position (one token per step, full attention)\n")
        print("| rope | overall | " + " | ".join(f"..{e}" for e in picks) + " |")
        print("| --- | ---: |" + " ---: |" * len(picks))
        for rope, r in sorted(streams.items(), key=lambda kv: (kv[0] != "none", kv[0])):
            by_end = {s["end"]: s["ppl"] for s in r["segments"]}
            print(f"| `{short(rope)}` | {r['ppl']:.2f} | " + " | ".join(f"{by_end[e]:.2f}" if e in by_end else "" for e in picks) + " |")


def picture(retrieval, streams, out_path):
    W, H, M = 360, 240, 52
    width, height = 2 * (W + M) + M + 170, H + 2 * M + 10
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{M}" y="18" font-size="13">RoPE extensions on the 8K-trained test model (full attention)</text>']
    ropes = sorted({k[1] for k in retrieval if k[0] == "passkey" and k[2] == "full"} | set(streams),
                   key=lambda r: (r != "none", r))
    color = {r: COLORS[i % len(COLORS)] for i, r in enumerate(ropes)}
    # Panel 1: passkey accuracy against length (log2 x).
    x0, y0 = M, M
    cells = {k[1]: v for k, v in retrieval.items() if k[0] == "passkey" and k[2] == "full"}
    lengths = sorted({l for c in cells.values() for l in c})
    if lengths:
        lo, hi = math.log2(lengths[0]), math.log2(lengths[-1])
        px = lambda l: x0 + (math.log2(l) - lo) / max(hi - lo, 1) * W
        py = lambda a: y0 + (1 - a) * H
        svg.append(f'<rect x="{x0}" y="{y0}" width="{W}" height="{H}" fill="none" stroke="#888"/>')
        svg.append(f'<text x="{x0 + W / 2}" y="{y0 - 8}" text-anchor="middle">passkey accuracy (10 samples per point)</text>')
        for t in (0, 0.25, 0.5, 0.75, 1):
            svg.append(f'<line x1="{x0}" x2="{x0 + W}" y1="{py(t)}" y2="{py(t)}" stroke="#eee"/>')
            svg.append(f'<text x="{x0 - 4}" y="{py(t) + 4}" text-anchor="end">{t:g}</text>')
        for l in lengths:
            svg.append(f'<text x="{px(l)}" y="{y0 + H + 14}" text-anchor="middle">{l}</text>')
        svg.append(f'<text x="{x0 + W / 2}" y="{y0 + H + 30}" text-anchor="middle">prompt length (tokens)</text>')
        for rope, cell in cells.items():
            pts = " ".join(f"{px(l)},{py(cell[l][1] / cell[l][0])}" for l in sorted(cell))
            svg.append(f'<polyline points="{pts}" fill="none" stroke="{color[rope]}" stroke-width="2"/>')
    # Panel 2: ppl-stream per segment (log y).
    x0 = 2 * M + W
    segs = {r: [(s["end"], s["ppl"]) for s in v["segments"] if s["ppl"] and math.isfinite(s["ppl"])] for r, v in streams.items()}
    allp = [p for v in segs.values() for _, p in v]
    if allp:
        xmax = max(e for v in segs.values() for e, _ in v)
        ylo, yhi = math.log10(min(allp)), math.log10(max(allp))
        px = lambda e: x0 + e / xmax * W
        py = lambda p: y0 + (1 - (math.log10(p) - ylo) / max(yhi - ylo, 1e-9)) * H
        svg.append(f'<rect x="{x0}" y="{y0}" width="{W}" height="{H}" fill="none" stroke="#888"/>')
        svg.append(f'<text x="{x0 + W / 2}" y="{y0 - 8}" text-anchor="middle">ppl-stream perplexity per segment (log)</text>')
        for k in range(math.floor(ylo), math.ceil(yhi) + 1):
            for m in (1, 2, 5):
                v = m * 10 ** k
                if min(allp) <= v <= max(allp):
                    svg.append(f'<line x1="{x0}" x2="{x0 + W}" y1="{py(v)}" y2="{py(v)}" stroke="#eee"/>')
                    svg.append(f'<text x="{x0 - 4}" y="{py(v) + 4}" text-anchor="end">{v:g}</text>')
        for e in range(0, xmax + 1, 8192):
            svg.append(f'<text x="{px(e)}" y="{y0 + H + 14}" text-anchor="middle">{e}</text>')
        svg.append(f'<line x1="{px(8192)}" x2="{px(8192)}" y1="{y0}" y2="{y0 + H}" stroke="#bbb" stroke-dasharray="4 3"/>')
        svg.append(f'<text x="{x0 + W / 2}" y="{y0 + H + 30}" text-anchor="middle">position (tokens; dashed: trained length)</text>')
        for rope, v in segs.items():
            pts = " ".join(f"{px(e)},{py(p)}" for e, p in v)
            svg.append(f'<polyline points="{pts}" fill="none" stroke="{color.get(rope, "#000")}" stroke-width="2"/>')
    # Legend.
    lx = 2 * (M + W) + M - 20
    for i, rope in enumerate(ropes):
        y = M + 14 + 18 * i
        svg.append(f'<line x1="{lx}" x2="{lx + 18}" y1="{y - 4}" y2="{y - 4}" stroke="{color[rope]}" stroke-width="2"/>')
        svg.append(f'<text x="{lx + 24}" y="{y}">{short(rope)}</text>')
    svg.append("</svg>")
    with open(out_path, "w") as f:
        f.write("\n".join(svg) + "\n")


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    retrieval, streams = load(sys.argv[1])
    tables(retrieval, streams)
    if len(sys.argv) == 3:
        picture(retrieval, streams, sys.argv[2])


if __name__ == "__main__":
    main()
