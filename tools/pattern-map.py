#!/usr/bin/env python3
"""Picture of a model's MInference head patterns: which head took which pattern.

usage: tools/pattern-map.py PATTERNS.json [CANDIDATES.json] OUT.svg

PATTERNS.json is what `sieve minference-search -o` writes (or any file
`minference:config=` loads in sieve's own format). With CANDIDATES.json
(`--candidates`), each cell also shows how much of the head's attention
mass each pattern recovered at the search's budget (A / VS / BS bars).
One row per layer, one column per query head; the colour is the pattern,
the text its sizes and the recall and output error the search measured.
"""
import json
import sys

COLORS = {"a_shape": "#f2b134", "vertical_slash": "#4f81bd", "block_sparse": "#6aa84f", "dense": "#999999"}
NAMES = {"a_shape": "A-shape", "vertical_slash": "Vertical-Slash", "block_sparse": "Block-Sparse", "dense": "dense"}
SHORT = {"a_shape": "A", "vertical_slash": "VS", "block_sparse": "BS"}


def sizes(h):
    p = h["pattern"]
    if p == "a_shape":
        return f"A {h['init']}+{h['local']}"
    if p == "vertical_slash":
        return f"VS {h['vertical']}/{h['slash']}"
    if p == "block_sparse":
        return f"BS {h['topk']}"
    return "dense"


def best_recall_per_type(cands):
    out = {}
    for c in cands:
        t = c["pattern"]
        out[t] = max(out.get(t, 0.0), c["recall"])
    return out


def main(argv):
    if len(argv) not in (3, 4):
        sys.exit(__doc__)
    cfg = json.load(open(argv[1]))
    cands = json.load(open(argv[2])) if len(argv) == 4 else None
    out_path = argv[-1]
    layers = cfg["layers"]
    n_layers, n_heads = len(layers), len(layers[0])
    cw, ch, left, top = 118, 58 if cands else 44, 70, 78
    width, height = left + n_heads * cw + 20, top + n_layers * ch + 60
    s = cfg.get("search", {})
    title = "MInference head patterns"
    sub = (f"search: {s.get('task', '?')} prompt of {s.get('length', '?')} tokens, budget {s.get('budget', '?')} "
           f"keys per query; text: sizes, recall r (attention mass read), output error e")
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{left}" y="24" font-size="16" font-weight="bold">{title}</text>',
           f'<text x="{left}" y="44" font-size="11" fill="#444">{sub}</text>']
    for h in range(n_heads):
        svg.append(f'<text x="{left + h * cw + cw / 2}" y="{top - 8}" font-size="11" text-anchor="middle">head {h}</text>')
    for l, row in enumerate(layers):
        y = top + l * ch
        svg.append(f'<text x="{left - 8}" y="{y + ch / 2 + 4}" font-size="11" text-anchor="end">layer {l}</text>')
        for h, head in enumerate(row):
            x = left + h * cw
            svg.append(f'<rect x="{x + 1}" y="{y + 1}" width="{cw - 2}" height="{ch - 2}" '
                       f'fill="{COLORS.get(head["pattern"], "#ccc")}" fill-opacity="0.85"/>')
            svg.append(f'<text x="{x + 6}" y="{y + 16}" font-size="11" fill="white" font-weight="bold">{sizes(head)}</text>')
            if "recall" in head:
                svg.append(f'<text x="{x + 6}" y="{y + 30}" font-size="10" fill="white">'
                           f'r {head["recall"]:.2f}  e {head.get("error", 0):.3f}</text>')
            if cands:
                best = best_recall_per_type(cands[l][h]["candidates"])
                for i, t in enumerate(("a_shape", "vertical_slash", "block_sparse")):
                    bx, by, bw = x + 6 + i * 37, y + 38, 30
                    svg.append(f'<rect x="{bx}" y="{by}" width="{bw}" height="12" fill="white" fill-opacity="0.35"/>')
                    svg.append(f'<rect x="{bx}" y="{by}" width="{bw * best.get(t, 0):.1f}" height="12" '
                               f'fill="{COLORS[t]}" stroke="white" stroke-width="0.5"/>')
                    svg.append(f'<text x="{bx + 2}" y="{by + 10}" font-size="8" fill="black">{SHORT[t]}</text>')
    ly = top + n_layers * ch + 22
    for i, (key, name) in enumerate(NAMES.items()):
        lx = left + i * 150
        svg.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{COLORS[key]}"/>')
        svg.append(f'<text x="{lx + 18}" y="{ly}" font-size="11">{name}</text>')
    if cands:
        svg.append(f'<text x="{left}" y="{ly + 22}" font-size="10" fill="#444">bars: the best recall each pattern '
                   f'reached in the search (A, VS, BS), full width = all of the head\'s attention mass</text>')
    svg.append("</svg>")
    with open(out_path, "w") as f:
        f.write("\n".join(svg) + "\n")
    print(f"wrote {out_path}", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv)
