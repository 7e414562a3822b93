#!/usr/bin/env python3
"""Draws EVIDENCE.md's write-throughput chart (an SVG, no plotting library).

    python3 .ci/commit-chart.py BENCH_MD OUT_SVG [PEER_NORMAL_JSON PEER_FULL_JSON]

BENCH_MD is the table file `cargo bench --bench patterns -- commit/` writes
(target/litepool-bench.md); the peer-bench JSON files are its `--json`
output for the same thread counts. `.ci/commit-table` runs all of it; this
file only draws. Each line is a ratio to one connection writing the same
rows alone, measured in the same run as the line (litepool's benchmark and
peer-bench each measure their own `single`), so the two sources can sit on
one axis.
"""

import json
import math
import sys

# What is drawn, in this order: (source, name in the source, label, colour, dashed?)
LINES = [
    ("bench", "group", "litepool group", "#d62728", False),
    ("bench", "locked", "litepool locked", "#1f77b4", False),
    ("bench", "pool", "litepool pool", "#17becf", False),
    ("bench", "r2d2", "r2d2", "#7f7f7f", False),
    ("peer", "combine-32", "prototype: combining, cap 32", "#ff7f0e", True),
    ("peer", "chan", "prototype: writer thread", "#2ca02c", True),
    ("peer", "group-32", "prototype: hand-off, cap 32", "#9467bd", True),
    ("peer", "lp-group", "litepool group, in peer-bench's run", "#d62728", True),
]
# Issue 23's targets: (threads, ratio) per mode.
TARGETS = {"NORMAL": [(1, 0.95), (8, 1.7), (64, 2.5)], "FULL": [(1, 0.98), (8, 4.5), (64, 11.5)]}


def bench_ratios(path):
    """{mode: {strategy: {threads: ratio}}} from the throughput tables."""
    out = {}
    sections = open(path).read().split("\n\n")
    for i, part in enumerate(sections):
        for mode in ("NORMAL", "FULL"):
            if part.startswith(f"Group commit, `synchronous = {mode}`: write throughput") and i + 1 < len(sections):
                rows = [l for l in sections[i + 1].splitlines() if l.startswith("| ")]
                threads = [int(c.split()[0]) for c in rows[0].strip("| ").split("|")[1:]]
                for row in rows[1:]:
                    cells = [c.strip() for c in row.strip().strip("|").split("|")]
                    values = {}
                    for t, v in zip(threads, cells[1:]):
                        try:
                            values[t] = float(v)
                        except ValueError:
                            pass
                    out.setdefault(mode, {})[cells[0]] = values
    return out


def peer_ratios(path):
    """{pattern: {threads: ratio}} from a peer-bench --json file."""
    out = {}
    for r in json.load(open(path))["results"]:
        if r["workload"] == "write" and r.get("ratio_to_single") is not None:
            out.setdefault(r["pattern"], {})[r["threads"]] = r["ratio_to_single"]
    return out


def panel(x0, y0, w, h, mode, series, ymax):
    """One mode's axes, lines and targets, as SVG elements."""
    el = []
    threads = sorted({t for _, _, _, values in series for t in values} | {1, 64})
    lo, hi = math.log2(threads[0]), math.log2(threads[-1])

    def px(t):
        return x0 + (math.log2(t) - lo) / (hi - lo) * w

    def py(r):
        return y0 + h - min(r, ymax) / ymax * h

    el.append(f'<text x="{x0 + w / 2}" y="{y0 - 12}" text-anchor="middle" font-weight="bold">'
              f'synchronous = {mode}</text>')
    step = 1 if ymax <= 4 else 2
    for i in range(0, int(ymax) + 1, step):
        el.append(f'<line x1="{x0}" y1="{py(i):.1f}" x2="{x0 + w}" y2="{py(i):.1f}" stroke="#e5e5e5"/>')
        el.append(f'<text x="{x0 - 6}" y="{py(i) + 4:.1f}" text-anchor="end">{i}×</text>')
    for t in threads:
        el.append(f'<line x1="{px(t):.1f}" y1="{y0}" x2="{px(t):.1f}" y2="{y0 + h}" stroke="#f0f0f0"/>')
        el.append(f'<text x="{px(t):.1f}" y="{y0 + h + 16}" text-anchor="middle">{t}</text>')
    el.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 34}" text-anchor="middle">writing threads</text>')
    el.append(f'<line x1="{x0}" y1="{py(1):.1f}" x2="{x0 + w}" y2="{py(1):.1f}" stroke="#000" '
              f'stroke-dasharray="2,3"/>')
    el.append(f'<rect x="{x0}" y="{y0}" width="{w}" height="{h}" fill="none" stroke="#999"/>')
    for t, r in TARGETS[mode]:
        x, y = px(t), py(r)
        el.append(f'<path d="M{x - 5:.1f},{y - 5:.1f}L{x + 5:.1f},{y + 5:.1f}M{x - 5:.1f},{y + 5:.1f}'
                  f'L{x + 5:.1f},{y - 5:.1f}" stroke="#000" stroke-width="1.5"/>')
    for _, colour, dashed, values in series:
        points = sorted(values.items())
        if not points:
            continue
        path = " ".join(f"{px(t):.1f},{py(r):.1f}" for t, r in points)
        dash = ' stroke-dasharray="6,4"' if dashed else ""
        el.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')
        for t, r in points:
            el.append(f'<circle cx="{px(t):.1f}" cy="{py(r):.1f}" r="2.5" fill="{colour}"/>')
    return el


def main():
    if len(sys.argv) not in (3, 5):
        sys.exit(__doc__)
    bench = bench_ratios(sys.argv[1])
    peers = {}
    if len(sys.argv) == 5:
        peers = {"NORMAL": peer_ratios(sys.argv[3]), "FULL": peer_ratios(sys.argv[4])}
    if not bench:
        sys.exit(f"no commit/ throughput table in {sys.argv[1]}: run `cargo bench --bench patterns -- commit/` first")
    w, h, left, top, gap = 360, 260, 50, 40, 90
    legend_top = top + h + 60
    svg_w = left + 2 * w + gap + 20
    svg_h = legend_top + 20 * ((len(LINES) + 2) // 2) + 64
    el = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{svg_w}" height="{svg_h}" '
          f'font-family="sans-serif" font-size="12">',
          f'<rect width="{svg_w}" height="{svg_h}" fill="#fff"/>']
    for i, mode in enumerate(("NORMAL", "FULL")):
        series = []
        for source, name, label, colour, dashed in LINES:
            values = (bench.get(mode, {}) if source == "bench" else peers.get(mode, {})).get(name, {})
            series.append((label, colour, dashed, values))
        top_ratio = max([r for _, _, _, v in series for r in v.values()] + [t[1] for t in TARGETS[mode]])
        ymax = max(2, math.ceil(top_ratio + 0.25))
        el += panel(left + i * (w + gap), top, w, h, mode, series, ymax)
    # The legend, two columns.
    entries = [(label, colour, dashed) for _, _, label, colour, dashed in LINES]
    for i, (label, colour, dashed) in enumerate(entries):
        x = left + (i % 2) * (w + gap)
        y = legend_top + 20 * (i // 2)
        dash = ' stroke-dasharray="6,4"' if dashed else ""
        el.append(f'<line x1="{x}" y1="{y}" x2="{x + 30}" y2="{y}" stroke="{colour}" stroke-width="2"{dash}/>')
        el.append(f'<text x="{x + 38}" y="{y + 4}">{label}</text>')
    y = legend_top + 20 * ((len(entries) + 1) // 2)
    el.append(f'<path d="M{left + 10},{y - 5}L{left + 20},{y + 5}M{left + 10},{y + 5}L{left + 20},{y - 5}" '
              f'stroke="#000" stroke-width="1.5"/>')
    el.append(f'<text x="{left + 38}" y="{y + 4}">issue 23 target</text>')
    el.append(f'<text x="{left}" y="{y + 26}">y: write throughput / one connection writing the same rows '
              f'alone (dotted: 1×), each line against the baseline of its own run;</text>')
    el.append(f'<text x="{left}" y="{y + 44}">solid: litepool\'s benchmark (commit/), dashed: '
              f'peer-bench\'s prototypes, same session</text>')
    el.append("</svg>")
    open(sys.argv[2], "w").write("\n".join(el) + "\n")


if __name__ == "__main__":
    main()
