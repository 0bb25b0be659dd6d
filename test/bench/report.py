"""The bench's results as a markdown table, JSON and a PNG chart.

Input: the results dict bench.py builds:
  {"machine": {...}, "variants": [name, ...], "baseline": "runc-v2",
   "rows": [{"key", "label", "unit", "kind": "latency"|"value"|"seal",
             "values": {variant: summary or None}, "targets": {variant: max ratio},
             "absolute_target": {"p99_max": ms} (seal rows), "note": str}],
   "checks": {...}}
"""

import json
import os

VARIANT_LABELS = {
    "runc-v2": "runc-v2",
    "airlock-passthrough": "airlock passthrough",
    "airlock-full": "airlock full policy",
}
COLORS = {"runc-v2": "#7f7f7f", "airlock-passthrough": "#1f77b4", "airlock-full": "#d62728"}


def label(variant):
    return VARIANT_LABELS.get(variant, variant)


def _fmt(value, unit):
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:.1f}" if value < 100 else f"{value:.0f}"
    if unit == "MiB":
        return f"{value:.2f}"
    if unit == "s":
        return f"{value:.2f}"
    return f"{value:g}"


def ratio(row, variant, baseline, field="median"):
    a, b = row["values"].get(variant), row["values"].get(baseline)
    if not a or not b or a.get(field) is None or not b.get(field):
        return None
    return a[field] / b[field]


def cell(row, variant):
    s = row["values"].get(variant)
    if not s or s.get("median") is None:
        return "-"
    unit = row["unit"]
    if row["kind"] == "latency":
        return f"{_fmt(s['median'], unit)} (p99 {_fmt(s['p99'], unit)})"
    if row["kind"] == "seal":
        return f"p50 {_fmt(s['median'], unit)}, p99 {_fmt(s['p99'], unit)} (n={s['n']})"
    return _fmt(s["median"], unit)


def verdicts(row, baseline):
    """[(text, met)] for the row's targets."""
    out = []
    for variant, limit in row.get("targets", {}).items():
        r = ratio(row, variant, baseline)
        if r is None:
            out.append((f"{label(variant)} <= {limit:g}x: no data", False))
        else:
            out.append((f"{label(variant)} <= {limit:g}x", r <= limit))
    absolute = row.get("absolute_target")
    if absolute:
        s = row["values"].get(absolute["variant"])
        p99 = s.get("p99") if s else None
        out.append((f"p99 < {absolute['p99_max']:g} {row['unit']}",
                    p99 is not None and p99 < absolute["p99_max"]))
    return out


def markdown(results):
    variants, baseline = results["variants"], results["baseline"]
    others = [v for v in variants if v != baseline]
    m = results["machine"]
    lines = [f"Benchmark of {m.get('date', '?')} on {m.get('machine', '?')}",
             "",
             "Medians (p99 in brackets) over interleaved runs against one private containerd; "
             "memory is the shims' /proc/PID/smaps_rollup summed and divided by the sandboxes alive.",
             ""]
    head = ["measurement"] + [label(v) for v in variants] + \
        [f"{label(v).replace('airlock ', '')} / runc-v2" for v in others] + ["target", "met"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * len(head)) + "|")
    for row in results["rows"]:
        cells = [f"{row['label']} [{row['unit']}]"] + [cell(row, v) for v in variants]
        for v in others:
            r = ratio(row, v, baseline)
            cells.append("-" if r is None else f"{r:.2f}x")
        vs = verdicts(row, baseline)
        cells.append("; ".join(text for text, _ in vs) or "-")
        cells.append(", ".join("yes" if ok else "**NO**" for _, ok in vs) or "-")
        lines.append("| " + " | ".join(cells) + " |")
    if results.get("proxy"):
        lines += ["", "The airlock proxy (network.execution: proxy), against the same mirror reached directly:", "",
                  "| measurement | direct | through the proxy | result | target | met |", "|---|---|---|---|---|---|"]
        for row in results["proxy"]:
            lines.append(f"| {row['label']} [{row['unit']}] | {_fmt(row['direct'], 'MiB')} | "
                         f"{_fmt(row['proxy'], 'MiB')} | {row['result'] or '-'} | {row['target']} | "
                         f"{'yes' if row['met'] else '**NO**'} |")
    if results.get("cache"):
        lines += ["", "The setup cache of `airlock run` (a policy's cache: section):", "",
                  "| measurement | cold | warm | result | target | met |", "|---|---|---|---|---|---|"]
        for row in results["cache"]:
            lines.append(f"| {row['label']} [{row['unit']}] | {_fmt(row['cold'], 's')} | {_fmt(row['warm'], 's')} | "
                         f"{row['result'] or '-'} | {row['target']} | {'yes' if row['met'] else '**NO**'} |")
    notes = [f"- {row['label']}: {row['note']}" for row in results["rows"] if row.get("note")]
    if notes:
        lines += ["", *notes]
    checks = results.get("checks", {})
    if checks:
        lines += ["", "Checks:"]
        for name, value in checks.items():
            lines.append(f"- {name}: {value}")
    lines += ["", "Machine: " + ", ".join(f"{k} {v}" for k, v in m.items() if k not in ("date", "machine"))]
    return "\n".join(lines) + "\n"


def write_json(results, path):
    with open(path, "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)


def chart(results, path):
    """A PNG with one panel per row; returns None, or why it could not be drawn."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"no chart: {e} (make bench installs python3-matplotlib)"
    rows = [r for r in results["rows"] if r["unit"] != "count" and r["key"] not in ("rss_1", "threads_1")
            and any(r["values"].get(v) for v in results["variants"])]
    cols = 3
    nrows = (len(rows) + cols - 1) // cols
    fig, axes = plt.subplots(nrows, cols, figsize=(5.2 * cols, 3.6 * nrows), squeeze=False)
    for ax, row in zip(axes.flat, rows):
        names, medians, errs, colors = [], [], [], []
        for v in results["variants"]:
            s = row["values"].get(v)
            if not s or s.get("median") is None:
                continue
            names.append(label(v).replace("airlock ", "airlock\n"))
            medians.append(s["median"])
            errs.append(max(0.0, (s.get("p99") or s["median"]) - s["median"]))
            colors.append(COLORS.get(v, "#2ca02c" if v.endswith("-passthrough") else "#ff7f0e"))
        yerr = [[0] * len(errs), errs] if row["kind"] in ("latency", "seal") else None
        bars = ax.bar(names, medians, color=colors, yerr=yerr, capsize=4)
        for bar, value in zip(bars, medians):
            ax.annotate(_fmt(value, row["unit"]), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                        ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
        absolute = row.get("absolute_target")
        if absolute:
            ax.axhline(absolute["p99_max"], color="black", linestyle="--", linewidth=1)
            ax.annotate(f"target p99 < {absolute['p99_max']:g}", (0.02, 0.92), xycoords="axes fraction",
                        fontsize=8)
        base = row["values"].get(results["baseline"])
        for variant, limit in row.get("targets", {}).items():
            if base and base.get("median"):
                ax.axhline(base["median"] * limit, color=COLORS.get(variant, "black"), linestyle=":", linewidth=1)
        ax.set_title(row["label"], fontsize=9)
        ax.set_ylabel(row["unit"])
        ax.tick_params(axis="x", labelsize=8)
    for ax in list(axes.flat)[len(rows):]:
        ax.axis("off")
    m = results["machine"]
    fig.suptitle(f"Airlock vs containerd-shim-runc-v2 ({m.get('date', '')}, {m.get('machine', '')}); "
                 "bars: medians, whiskers: p99, dotted lines: targets", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None
