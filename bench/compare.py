#!/usr/bin/env python3
"""GoQueue next to its peers, from one bench/run.sh session.

Reads <results>/goqueue.jsonl (goqueue bench --output json) and
<results>/peers.jsonl (the peers' loadgen), takes the median of each figure
over the runs, and prints a markdown table with GoQueue / peer ratios and
the targets of DESIGN.md section 6. Usage: compare.py RESULTS_DIR
"""
import json
import os
import statistics
import sys

res = sys.argv[1]


def load(name):
    path = os.path.join(res, name)
    if not os.path.exists(path):
        return []
    rows = []
    for line in open(path):
        line = line.strip()
        if line.startswith("{"):
            try:
                rows.append(json.loads(line))
            except ValueError:
                pass
    return rows


rows = load("goqueue.jsonl") + load("peers.jsonl")
labels = []
for r in rows:
    if r.get("phase") in ("produce", "consume", "latency") and r.get("label") and r["label"] not in labels:
        labels.append(r["label"])
if "goqueue" in labels:
    labels.remove("goqueue")
    labels.insert(0, "goqueue")


def median(label, phase, key, scale=1.0, **match):
    """Median of key over the complete results of label's phase."""
    xs = []
    for r in rows:
        if r.get("label") != label or r.get("phase") != phase:
            continue
        if any(r.get(k) != v for k, v in match.items()):
            continue
        if phase == "consume" and r.get("acked", 0) < r.get("msgs", 0):
            continue  # an incomplete consume has no rate
        if r.get(key) is None:
            continue
        xs.append(r[key] * scale)
    return (statistics.median(xs), len(xs)) if xs else (None, 0)


def peak_rss(label):
    """Largest resident memory of the server over every phase (MiB)."""
    xs = [max(r.get("server_hwm_kb") or 0, r.get("server_rss_kb") or 0) / 1024
          for r in rows if r.get("label") == label and r.get("phase") in ("produce", "consume", "latency")]
    return (max(xs), len(xs)) if xs and max(xs) > 0 else (None, 0)


# (title, function of label -> (value, n), unit, higher is better, target)
metrics = [
    ("produce, 1 producer", lambda L: median(L, "produce", "msgs_per_s", producers=1), "msg/s", True, "≥ 2.0M"),
    ("produce, 4 producers", lambda L: median(L, "produce", "msgs_per_s", producers=4), "msg/s", True, "≥ 2.5M"),
    ("consume with acks (after 1P)", lambda L: median(L, "consume", "msgs_per_s", producers=1), "msg/s", True, "≥ 3.5M"),
    ("consume with acks (after 4P)", lambda L: median(L, "consume", "msgs_per_s", producers=4), "msg/s", True, "≥ 3.5M"),
    ("end-to-end p50", lambda L: median(L, "latency", "p50_us", 1e-3), "ms", False, ""),
    ("end-to-end p99", lambda L: median(L, "latency", "p99_us", 1e-3), "ms", False, "≤ 1 ms"),
    ("end-to-end p99, from intended send", lambda L: median(L, "latency", "co_p99_us", 1e-3), "ms", False, ""),
    ("server peak RSS", peak_rss, "MiB", False, "≤ 100 MiB"),
]


def fmt(x, unit):
    if x is None:
        return "—"
    if unit == "msg/s":
        return f"{x:,.0f}"
    if unit == "ms":
        return f"{x:.2f} ms"
    return f"{x:.0f} MiB"


names = {"goqueue": "GoQueue"}
head = ["workload"] + [names.get(L, L) for L in labels] + ["target (DESIGN §6)"]
print("| " + " | ".join(head) + " |")
print("|" + "---|" * len(head))
for title, fn, unit, higher, target in metrics:
    gq, _ = fn("goqueue")
    cells = [f"{title} ({'higher' if higher else 'lower'} is better)"]
    for L in labels:
        v, n = fn(L)
        cell = fmt(v, unit)
        if L != "goqueue" and v and gq:
            cell += f" (GoQueue ×{gq / v:.2f})"
        cells.append(cell)
    cells.append(target)
    print("| " + " | ".join(cells) + " |")

runs = {L: sum(1 for r in rows if r.get("label") == L and r.get("phase") == "produce" and r.get("producers") == 1)
        for L in labels}
print()
print("Medians over runs (" + ", ".join(f"{names.get(L, L)}: {n}" for L, n in runs.items()) + "). "
      "×k is GoQueue's figure divided by the peer's: above 1 GoQueue is higher "
      "(better for msg/s, worse for latency and memory).")
print("Latency: p50/p99 from the actual send time; \"from intended send\" corrects for "
      "coordinated omission (both load generators send in ~1 ms bursts on this kernel's timers).")
env_path = os.path.join(res, "env.txt")
if os.path.exists(env_path):
    for line in open(env_path):
        if line.startswith("goqueue: "):
            print("GoQueue built from " + line[len("goqueue: "):].strip() + ".")
load_path = os.path.join(res, "load.txt")
if os.path.exists(load_path):
    loads = [float(line.split()[3]) for line in open(load_path) if len(line.split()) >= 4]
    if loads:
        print(f"1-minute load average when phases started: {min(loads):.2f} to {max(loads):.2f} (2 cores).")
