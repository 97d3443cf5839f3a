#!/usr/bin/env python3
"""Accuracy table of prefill methods against `full`, from `sieve eval --json` outputs.

usage: tools/prefill-report.py FILE.json [FILE.json ...]

Each file is one `sieve eval --json` run (several --attn on the same
prompts). Prints one markdown table per task: a row per spec (its prefill
and decode parts), a column per length, each cell accuracy (correct /
samples), then the mean and its distance from `full`'s mean on the same
prompts; and for ppl runs one table of perplexity per spec. A RoPE
extension the run used is named under the table.
"""
import json
import sys
from collections import OrderedDict


def short(spec):
    # The pattern file's path says little; its name is enough.
    parts = spec.split("+")
    out = []
    for p in parts:
        if "config=" in p:
            p = p.split(":")[0] + ":config=" + p.split("config=")[1].split("/")[-1]
        out.append(p)
    return " + ".join(out)


def main(paths):
    tables = OrderedDict()  # (task, rope) -> {spec: {length: (correct, samples)}}
    ppl = OrderedDict()
    for path in paths:
        d = json.load(open(path))
        for r in d["results"]:
            rope = r.get("rope", "none")
            if d["task"] in ("ppl", "ppl-stream"):
                ppl.setdefault((d["task"], rope), OrderedDict())[r["attn"]] = (r["length"], r["ppl"])
                continue
            t = tables.setdefault((d["task"], rope), OrderedDict())
            c = t.setdefault(r["attn"], {}).setdefault(r["length"], [0, 0])
            c[0] += r["correct"]
            c[1] += r["samples"]
    for (task, rope), rows in tables.items():
        lengths = sorted({n for cells in rows.values() for n in cells})
        print(f"\n{task}" + (f", rope {rope}" if rope != "none" else ""))
        print("| spec | " + " | ".join(f"{n // 1024}K" for n in lengths) + " | mean | vs full |")
        print("| --- | " + " | ".join("---:" for _ in lengths) + " | ---: | ---: |")
        means = {}
        for spec, cells in rows.items():
            accs = [cells[n][0] / cells[n][1] for n in lengths if n in cells]
            means[spec] = sum(accs) / len(accs)
        base = means.get("full")
        for spec, cells in rows.items():
            row = [f"{cells[n][0] / cells[n][1]:.2f}" if n in cells else "" for n in lengths]
            diff = "" if base is None or spec == "full" else f"{means[spec] - base:+.2f}"
            print(f"| {short(spec)} | " + " | ".join(row) + f" | {means[spec]:.2f} | {diff} |")
    for (task, rope), rows in ppl.items():
        print(f"\n{task}" + (f", rope {rope}" if rope != "none" else ""))
        print("| spec | length | ppl |")
        print("| --- | ---: | ---: |")
        for spec, (n, v) in rows.items():
            print(f"| {short(spec)} | {n} | {v:.3f} |")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    main(sys.argv[1:])
