#!/usr/bin/env python3
"""SVG picture of a folder written by tools/policy-budgets.sh.

usage: tools/policy-budgets-plot.py DIR TASK OUT.svg

One panel per prompt length: for each policy, its accuracy (y) against the KV
bytes it read per decoded token as a fraction of what `full` read at that
length (x), one point per budget (1/4, 1/8, 1/16 of the context) joined by a
line; `full` is the point at x = 1. A policy that keeps `full`'s accuracy
while reading little sits in the top left.
"""
import importlib.util
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
_spec = importlib.util.spec_from_file_location("budgets_table", os.path.join(HERE, "policy-budgets-table.py"))
budgets_table = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(budgets_table)

COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]
PANEL_W, PANEL_H, MARGIN, X_MAX = 260, 220, 46, 1.2


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    folder, task, out_path = sys.argv[1:]
    cells, _ = budgets_table.load(folder, task)
    lengths = sorted({l for row in cells.values() for l in row})
    policies = sorted({p for p, _ in cells}, key=lambda p: (p != "full", p))
    color = {p: COLORS[i % len(COLORS)] for i, p in enumerate(policies)}

    width = MARGIN + len(lengths) * (PANEL_W + MARGIN) + 150
    height = PANEL_H + 2 * MARGIN + 20
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{MARGIN}" y="16" font-size="13">{task}: accuracy against the KV bytes read per '
           f'decoded token (fraction of full), budgets 1/4, 1/8, 1/16 of the context</text>']
    for i, length in enumerate(lengths):
        x0, y0 = MARGIN + i * (PANEL_W + MARGIN), MARGIN
        full = cells.get(("full", "1"), {}).get(length)
        if not full:
            continue
        full_bytes = full[2] / full[1]

        def px(frac):
            return x0 + min(frac, X_MAX) / X_MAX * PANEL_W

        def py(acc):
            return y0 + (1 - acc) * PANEL_H

        svg.append(f'<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="#888"/>')
        svg.append(f'<text x="{x0 + PANEL_W / 2}" y="{y0 - 6}" text-anchor="middle">{length} tokens</text>')
        for t in (0, 0.25, 0.5, 0.75, 1.0):
            svg.append(f'<line x1="{x0}" x2="{x0 + PANEL_W}" y1="{py(t)}" y2="{py(t)}" stroke="#eee"/>')
            svg.append(f'<text x="{x0 - 4}" y="{py(t) + 4}" text-anchor="end">{t:g}</text>')
        for t in (0, 0.25, 0.5, 0.75, 1.0):
            svg.append(f'<text x="{px(t)}" y="{y0 + PANEL_H + 14}" text-anchor="middle">{t:g}</text>')
        for policy in policies:
            points = []
            for (p, fraction), row in cells.items():
                if p != policy or length not in row:
                    continue
                correct, samples, bytes_total = row[length]
                points.append((budgets_table.fraction_value(fraction),
                               bytes_total / samples / full_bytes, correct / samples))
            points.sort(reverse=True)
            if not points:
                continue
            c = color[policy]
            if len(points) > 1:
                path = " ".join(f"{px(x):.1f},{py(y):.1f}" for _, x, y in points)
                svg.append(f'<polyline points="{path}" fill="none" stroke="{c}" stroke-width="1.5"/>')
            for _, x, y in points:
                svg.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{c}"/>')
    legend_x = MARGIN + len(lengths) * (PANEL_W + MARGIN)
    for j, policy in enumerate(policies):
        y = MARGIN + 10 + 16 * j
        svg.append(f'<rect x="{legend_x}" y="{y - 8}" width="10" height="10" fill="{color[policy]}"/>')
        svg.append(f'<text x="{legend_x + 14}" y="{y + 1}">{policy}</text>')
    svg.append("</svg>")
    with open(out_path, "w") as f:
        f.write("\n".join(svg) + "\n")


if __name__ == "__main__":
    main()
