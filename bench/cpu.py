#!/usr/bin/env python3
"""CPU per message of the broker and of the Go client, each in its own process.

usage: bench/cpu.py GOQUEUE_BINARY [MESSAGES [RUNS [BENCH_FLAG...]]]   (defaults 8000000, 3)

Each run starts a fresh broker on 127.0.0.1 (an empty data directory), runs
`goqueue bench --workloads throughput --producers 1 -n MESSAGES` against it
(produce, then a group of 2 members consuming with an ack per message),
samples both processes' user+system CPU from /proc/<pid>/stat every 20 ms,
and charges what they used inside the consume phase's window (the `secs`
the bench reports for it, ending when it printed the phase) to that phase.
It prints, per run, msg/s and each process's µs of CPU per message and
cores used. Flags after RUNS go to `goqueue bench` (`--gc-heap-floor 0`:
the client's collector as GOGC=100 runs it). Linux only (/proc)."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_run(binary, messages, extra):
    port, data = free_port(), tempfile.mkdtemp(prefix="goqueue-cpu.")
    broker = subprocess.Popen([binary, "--addr", f"127.0.0.1:{port}", "--kafka-addr", "", "--data-dir", data],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)
        bench = subprocess.Popen([binary, "bench", "-b", f"127.0.0.1:{port}", "--workloads", "throughput",
                                  "--producers", "1", "-n", str(messages), "--output", "json", "--progress=false", *extra],
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        lines, samples = [], []
        reader = threading.Thread(target=lambda: lines.extend((time.time(), l) for l in bench.stdout))
        reader.start()
        while bench.poll() is None:
            try:
                samples.append((time.time(), cpu_seconds(broker.pid), cpu_seconds(bench.pid)))
            except (FileNotFoundError, ProcessLookupError):
                pass
            time.sleep(0.02)
        reader.join()
    finally:
        broker.terminate()
        broker.wait()
        subprocess.run(["rm", "-rf", data])
    for printed, line in lines:
        phase = json.loads(line)
        if phase.get("phase") != "consume":
            continue
        window = [s for s in samples if printed - phase["secs"] <= s[0] <= printed]
        if len(window) < 2:
            return "consume phase too short to sample"
        (t0, b0, c0), (t1, b1, c1) = window[0], window[-1]
        return (f"consume {phase['msgs_per_s'] / 1e6:.2f}M msg/s over {phase['secs']:.2f} s; "
                f"broker {(b1 - b0) / messages * 1e6:.3f} µs/msg ({(b1 - b0) / (t1 - t0):.2f} cores), "
                f"client {(c1 - c0) / messages * 1e6:.3f} µs/msg ({(c1 - c0) / (t1 - t0):.2f} cores)")
    return "no consume phase in the bench's output"


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    binary = sys.argv[1]
    messages = int(sys.argv[2]) if len(sys.argv) > 2 else 8_000_000
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    for run in range(runs):
        print(f"run {run + 1}: {one_run(binary, messages, sys.argv[4:])}", flush=True)


if __name__ == "__main__":
    main()
