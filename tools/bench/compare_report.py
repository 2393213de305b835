#!/usr/bin/env python3
"""Markdown report of tools/bench/compare.sh's samples.

usage: compare_report.py SAMPLES.tsv MACHINE.txt

Each sample line: tag combo op transport threads ops ns_per_op client_cpu
server_cpu client_allocs server_allocs. Tags: rN (round N), idle, inproc,
strace.
"""

import statistics
import sys
from collections import defaultdict

COMBOS = {
    "cc": "C++ → C++",
    "gg": "Go → Go",
    "gc": "Go → C++",
    "cg": "C++ → Go",
}
OPS = [
    ("fstat", "FStat"),
    ("walk", "Walk+Close"),
    ("openat", "devutil OpenAt (RPC path)"),
    ("dirents", "DirentNames 10k (RPC path)"),
]
RAW = [
    ("raw_stream", "AF_UNIX STREAM ping-pong, FStat sizes (16 B / 152 B)"),
    ("raw_stream_fd", "AF_UNIX STREAM ping-pong, OpenAt sizes + 1 FD"),
    ("raw_futex", "futex ping-pong over shared memory"),
    ("raw_openat", "openat + close"),
    ("raw_getdents", "open + getdents64 loop + close, 10,000 entries"),
]


def load(path):
    rows = []
    with open(path) as f:
        for line in f:
            p = line.rstrip("\n").split("\t")
            if len(p) < 11:
                continue
            rows.append({
                "tag": p[0], "combo": p[1], "op": p[2], "tr": p[3],
                "threads": int(p[4]), "ops": int(p[5]), "ns": float(p[6]),
                "ccpu": float(p[7]), "scpu": float(p[8]),
                "calloc": float(p[9]),
                "salloc": None if p[10] == "-" else float(p[10]),
            })
    return rows


def fmt_t(ns):
    if ns >= 1e6:
        return "%.2f ms" % (ns / 1e6)
    return "%.1f µs" % (ns / 1e3)


def stat(vals):
    return statistics.median(vals), min(vals), max(vals)


def cell(vals):
    if not vals:
        return "—"
    m, lo, hi = stat(vals)
    return "%s (%s–%s)" % (fmt_t(m), fmt_t(lo).split()[0], fmt_t(hi))


def main():
    rows = load(sys.argv[1])
    machine = dict(
        l.rstrip("\n").split("=", 1) for l in open(sys.argv[2]) if "=" in l)
    rounds = [r for r in rows if r["tag"].startswith("r")]
    by = defaultdict(list)  # (combo, op, tr, threads) -> rows
    for r in rounds:
        by[(r["combo"], r["op"], r["tr"], r["threads"])].append(r)

    def med(key, field):
        v = [r[field] for r in by.get(key, [])]
        return statistics.median(v) if v else None

    print("## LISAFS side by side: C++ (this project) and gVisor's Go\n")
    print("Machine: %s, %s CPUs, kernel %s; cpuidle driver `%s`, governor "
          "`%s`; haltpoll on the kernel command line: `%s`." % (
              machine.get("cpu", "?"), machine.get("nproc", "?"),
              machine.get("kernel", "?"),
              machine.get("devices/system/cpu/cpuidle/current_driver", "?"),
              machine.get("devices/system/cpu/cpuidle/current_governor",
                          machine.get(
                              "devices/system/cpu/cpuidle/current_governor_ro",
                              "?")),
              machine.get("cmdline_haltpoll", "?")))
    hp = ["%s=%s" % (k.rsplit("/", 1)[1], v) for k, v in machine.items()
          if k.startswith("module/haltpoll/parameters/")]
    if hp:
        print("haltpoll module parameters: %s." % ", ".join(hp))
    print("Spin before blocking (our client, devgofer and the raw "
          "ping-pongs): %s." % machine.get("spin", "?"))
    print("gVisor %s (%s); this tree at %s; %s rounds, each a fresh "
          "connection and server per measurement, pairings alternating; "
          "median (min–max).\n" % (
              machine.get("gvisor", "?"), machine.get("go", "?"),
              machine.get("commit", "?"), machine.get("rounds", "?")))

    print("### Raw baselines\n")
    print("| baseline | latency | CPU per op (both sides) |")
    print("|---|---:|---:|")
    for op, name in RAW:
        k = ("raw", op, "raw", 1)
        v = [r["ns"] for r in by.get(k, [])]
        cpu = med(k, "ccpu")
        scpu = med(k, "scpu")
        print("| %s | %s | %s |" % (
            name, cell(v),
            fmt_t(cpu + scpu) if cpu is not None else "—"))
    print()

    # Allocations: client from the rounds; server from --inproc runs.
    inproc = {(r["combo"], r["op"], r["tr"]): r for r in rows
              if r["tag"] == "inproc"}

    def server_allocs(server_lang, op, tr):
        if server_lang == "cpp":
            r = inproc.get(("cc", op, tr))
            return r["salloc"] if r and r["salloc"] is not None else None
        r = inproc.get(("gg", op, tr))
        c = med(("gg", op, tr, 1), "calloc")
        if r is None or c is None:
            return None
        return max(0.0, r["calloc"] - c)

    sysc = {(r["combo"], r["op"], r["tr"]): r["ns"] for r in rows
            if r["tag"] == "strace"}

    print("### Operations\n")
    print("Latency per op; CPU per op of the client and the server; heap "
          "allocations per op (client / server); syscalls per op of both "
          "processes together.\n")
    print("| op | transport | pairing | latency | CPU client | CPU server "
          "| allocs client / server | syscalls |")
    print("|---|---|---|---:|---:|---:|---:|---:|")
    for op, name in OPS:
        for tr in ("socket", "channel", "host"):
            combos = ["cc", "gg"] if tr == "host" else list(COMBOS)
            if tr == "host" and op not in ("openat", "dirents"):
                continue
            for c in combos:
                k = (c, op, tr, 1)
                if k not in by:
                    continue
                slang = "cpp" if c in ("cc", "gc") else "go"
                sa = None if tr == "host" else server_allocs(slang, op, tr)
                ca = med(k, "calloc")
                sc = sysc.get((c, op, tr))
                label = name
                if tr == "host":
                    label = name.replace("RPC path", "host fast path")
                print("| %s | %s | %s | %s | %s | %s | %s / %s | %s |" % (
                    label, tr, COMBOS[c], cell([r["ns"] for r in by[k]]),
                    fmt_t(med(k, "ccpu")), fmt_t(med(k, "scpu")),
                    "%.1f" % ca, "—" if sa is None else "%.1f" % sa,
                    "—" if sc is None else "%.1f" % sc))
    print()

    print("### Ratios (targets of the performance work)\n")
    print("| ratio | value | target |")
    print("|---|---:|---:|")

    def ratio(name, a, b, target):
        if a is None or b is None or b == 0:
            print("| %s | — | %s |" % (name, target))
        else:
            print("| %s | %.2f× | %s |" % (name, a / b, target))

    def lat(c, op, tr):
        return med((c, op, tr, 1), "ns")

    def cpu(c, op, tr):
        a, b = med((c, op, tr, 1), "ccpu"), med((c, op, tr, 1), "scpu")
        return None if a is None else a + b

    raw = lambda op: med(("raw", op, "raw", 1), "ns")
    for tr in ("socket", "channel"):
        ratio("FStat C++→C++ / Go→Go, %s" % tr, lat("cc", "fstat", tr),
              lat("gg", "fstat", tr), "≤ 0.6×")
    for tr in ("socket", "channel"):
        ratio("devutil OpenAt C++→C++ / Go→Go, %s" % tr,
              lat("cc", "openat", tr), lat("gg", "openat", tr), "≤ 0.6×")
    for tr in ("socket", "channel"):
        ratio("CPU per FStat (client+server) C++ / Go, %s" % tr,
              cpu("cc", "fstat", tr), cpu("gg", "fstat", tr), "≤ 0.6×")
        ratio("CPU per OpenAt (client+server) C++ / Go, %s" % tr,
              cpu("cc", "openat", tr), cpu("gg", "openat", tr), "≤ 0.6×")
    ratio("Walk+Close C++→C++ / Go→Go, socket", lat("cc", "walk", "socket"),
          lat("gg", "walk", "socket"), "—")
    ratio("DirentNames RPC C++→C++ / Go→Go, socket",
          lat("cc", "dirents", "socket"), lat("gg", "dirents", "socket"), "—")
    ratio("C++ FStat socket / raw STREAM ping-pong",
          lat("cc", "fstat", "socket"), raw("raw_stream"), "≤ 1.1×")
    ratio("C++ FStat channel / raw futex ping-pong",
          lat("cc", "fstat", "channel"), raw("raw_futex"), "≤ 1.25×")
    ratio("C++ devutil OpenAt host fast path / raw openat+close",
          lat("cc", "openat", "host"), raw("raw_openat"), "≤ 1.1×")
    ratio("C++ DirentNames host fast path / raw getdents64",
          lat("cc", "dirents", "host"), raw("raw_getdents"), "≤ 1.1×")
    ratio("C++ DirentNames RPC (socket) / raw getdents64",
          lat("cc", "dirents", "socket"), raw("raw_getdents"), "—")
    ratio("Go FStat socket / raw STREAM ping-pong (reference)",
          lat("gg", "fstat", "socket"), raw("raw_stream"), "—")
    ratio("Go FStat channel / raw futex ping-pong (reference)",
          lat("gg", "fstat", "channel"), raw("raw_futex"), "—")
    print()

    print("### Throughput: FStat with 1, 2 and 4 client threads on one "
          "connection\n")
    print("| pairing | transport | 1 thread | 2 threads | 4 threads |")
    print("|---|---|---:|---:|---:|")
    for c in ("cc", "gg"):
        for tr in ("socket", "channel"):
            cells = []
            for k in (1, 2, 4):
                v = med((c, "fstat", tr, k), "ns")
                cells.append("—" if v is None else
                             "%.0f k/s" % (1e6 / v))
            print("| %s | %s | %s |" % (COMBOS[c], tr, " | ".join(cells)))
    print()

    print("### An idle connection\n")
    print("CPU of each process over %s of a mounted connection left idle "
          "after a few FStats (the spin window, if any, included).\n" %
          "1 s")
    print("| pairing | transport | client CPU | server CPU |")
    print("|---|---|---:|---:|")
    for r in rows:
        if r["tag"] == "idle":
            print("| %s | %s | %s | %s |" % (COMBOS[r["combo"]], r["tr"],
                                             fmt_t(r["ccpu"]),
                                             fmt_t(r["scpu"])))
    print()
    print("Syscalls: %s. CPU: client CLOCK_PROCESS_CPUTIME_ID, server "
          "/proc/PID/task/*/schedstat deltas (live threads). Allocations: Go runtime.MemStats.Mallocs; C++ calls of "
          "operator new (a counting replacement in lisafs_compare). Server "
          "allocations come from a run with the server in the client's "
          "process (C++: testing/gofer_fixture's server; Go: in-process total "
          "minus the client's)." % machine.get("syscalls", "?"))


if __name__ == "__main__":
    main()
