#!/usr/bin/env python3
"""Markdown table of the eviction runs in a folder.

usage: tools/eviction-table.py DIR

DIR holds `sieve eval --task passkey --json` outputs, one per (length,
policy), named passkey-LENGTH-POLICY.json. Prints one row per policy family
and one column per (length, budget as a share of the length): accuracy
(correct/samples) and the KV bytes read per decoded token.
"""
import glob
import json
import os
import re
import sys


def budget_of(attn):
    m = re.search(r"budget=(\d+)", attn) or re.search(r"window=(\d+)", attn)
    if not m:
        return None
    b = int(m.group(1))
    return b + 4 if attn.startswith("streaming") else b  # streaming: sink + window


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    cells, columns = {}, set()
    for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
        try:
            with open(path) as f:
                d = json.load(f)
        except (json.JSONDecodeError, OSError):
            continue
        for r in d["results"]:
            name = r["attn"].split(":")[0]
            b = budget_of(r["attn"])
            share = "all" if b is None else f"1/{round(r['length'] / b)}"
            columns.add((r["length"], share))
            cells[(name, r["length"], share)] = (r["correct"], r["samples"], r["kv_bytes_per_token"])
    columns = sorted(columns, key=lambda c: (c[0], c[1] != "all", -eval(c[1]) if c[1] != "all" else 0))
    names = sorted({k[0] for k in cells}, key=lambda n: (n != "full", n))
    print("| policy | " + " | ".join(f"{l} @ {s}" for l, s in columns) + " |")
    print("| --- |" + " ---: |" * len(columns))
    for n in names:
        row = []
        for l, s in columns:
            c = cells.get((n, l, s))
            row.append(f"{c[0] / c[1]:.2f} ({c[2] / 1e6:.1f} MB)" if c else "")
        print(f"| `{n}` | " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
