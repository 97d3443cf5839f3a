#!/usr/bin/env python3
"""Markdown table of a folder written by tools/policy-budgets.sh.

usage: tools/policy-budgets-table.py DIR TASK

One row per (policy, budget fraction), one column per length: accuracy
(correct/samples) and the KV megabytes the policy read per decoded token.
Each DIR/TASK-L*.json is read with its .specs sidecar, which names the policy
and fraction of each result in order.
"""
import glob
import json
import os
import re
import sys


def load(folder, task):
    cells = {}  # (policy, fraction) -> {length: (correct, samples, bytes x samples)}
    specs = {}  # (policy, fraction, length) -> spec
    for path in sorted(glob.glob(os.path.join(folder, f"{task}-*.json"))):
        if not re.fullmatch(re.escape(task) + r"-\d+(-[\w]+)?\.json", os.path.basename(path)):
            continue
        with open(path[: -len(".json")] + ".specs") as f:
            rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
        with open(path) as f:
            results = json.load(f)["results"]
        if len(rows) != len(results):
            sys.exit(f"{path}: {len(results)} results but {len(rows)} specs in its sidecar")
        for (policy, fraction, spec), r in zip(rows, results):
            length = r["length"]
            c = cells.setdefault((policy, fraction), {}).setdefault(length, [0, 0, 0.0])
            c[0] += r["correct"]
            c[1] += r["samples"]
            c[2] += r["kv_bytes_per_token"] * r["samples"]
            specs[(policy, fraction, length)] = r["attn"]
    return cells, specs


def fraction_value(f):
    num, _, den = f.partition("/")
    return float(num) / float(den or 1)


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    cells, _ = load(sys.argv[1], sys.argv[2])
    lengths = sorted({l for row in cells.values() for l in row})
    order = sorted(cells, key=lambda k: (k[0] != "full", k[0], -fraction_value(k[1])))
    print("| policy | budget | " + " | ".join(f"{l}" for l in lengths) + " |")
    print("| --- | --- | " + " | ".join("---:" for _ in lengths) + " |")
    for key in order:
        row = cells[key]
        out = []
        for l in lengths:
            if l not in row:
                out.append("")
                continue
            correct, samples, bytes_total = row[l]
            out.append(f"{correct / samples:.2f} ({bytes_total / samples / 1e6:.1f})")
        print(f"| `{key[0]}` | {key[1]} | " + " | ".join(out) + " |")


if __name__ == "__main__":
    main()
