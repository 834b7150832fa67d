#!/usr/bin/env python3
"""Summarise a `perf record -g` profile: top functions by self and by inclusive share of samples, demangled.

    perf script -i FILE -F ip,sym,dso | python3 scripts/perf_summary.py [--top N] [--match TEXT ...] BINARY...

perf 6.1 on Debian cannot read the symbols of Swift executables built with DWARF 5 (it prints "[unknown]"), so
frames in the given BINARY files are symbolised here from `nm` (the addresses perf prints for them are already
file addresses). Each sample counts once per function on its stack for the inclusive share. `--match` adds a line
per TEXT: the share of samples with a function whose demangled name contains TEXT (e.g. "MetricsMiddleware").
Used by scripts/profile-routes.sh.
"""

import argparse
import bisect
import collections
import os
import subprocess
import sys


def load_symbols(path):
    out = subprocess.run(["nm", "--defined-only", "-n", path], capture_output=True, text=True, check=True).stdout
    addresses, names = [], []
    for line in out.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            addresses.append(int(parts[0], 16))
            names.append(parts[2])
    return addresses, names


def demangle(names):
    names = list(names)
    try:
        out = subprocess.run(["swift", "demangle", "--simplified", "--compact"], input="\n".join(names),
                             capture_output=True, text=True, check=True).stdout.splitlines()
        if len(out) == len(names):
            return dict(zip(names, out))
    except (OSError, subprocess.CalledProcessError):
        pass
    return {n: n for n in names}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--match", action="append", default=[])
    parser.add_argument("binaries", nargs="*")
    args = parser.parse_args()
    tables = {os.path.realpath(b): load_symbols(b) for b in args.binaries}

    def name_of(ip, sym, dso):
        real = os.path.realpath(dso) if dso.startswith("/") else dso
        if sym == "[unknown]" and real in tables:
            addresses, names = tables[real]
            i = bisect.bisect_right(addresses, int(ip, 16)) - 1
            if i >= 0:
                return names[i]
        if sym == "[unknown]":
            return "[unknown] " + os.path.basename(dso)
        return sym

    samples = []
    frames = []
    for line in sys.stdin:
        line = line.strip()
        if not line:
            if frames:
                samples.append(frames)
            frames = []
            continue
        parts = line.split(" ", 1)
        if len(parts) != 2:
            continue
        ip, rest = parts
        dso = rest[rest.rfind("(") + 1:-1] if rest.endswith(")") else ""
        sym = rest[:rest.rfind("(")].strip() if "(" in rest else rest
        if "+0x" in sym:
            sym = sym[:sym.rfind("+0x")]
        frames.append(name_of(ip, sym, dso))
    if frames:
        samples.append(frames)
    if not samples:
        print("no samples")
        return
    self_counts = collections.Counter(s[0] for s in samples)
    incl_counts = collections.Counter()
    for s in samples:
        incl_counts.update(set(s))
    pretty = demangle(set(self_counts) | set(incl_counts))
    total = len(samples)
    print("samples: %d" % total)
    for text in args.match:
        hits = sum(1 for s in samples if any(text in pretty.get(f, f) for f in s))
        print("  %5.1f %%  of samples under a function matching %r" % (100.0 * hits / total, text))
    print("-- top %d by self share" % args.top)
    for name, count in self_counts.most_common(args.top):
        print("  %5.1f %%  %s" % (100.0 * count / total, pretty.get(name, name)[:150]))
    print("-- top %d by inclusive share (each sample counts a function once)" % args.top)
    skip = ("start_thread", "_dispatch_worker_thread", "swift_job_run", "runJobInEstablishedExecutorContext",
            "_dispatch_continuation_pop", "_dispatch_async_redirect_invoke", "entry_SYSCALL_64", "do_syscall_64",
            "[unknown]")
    shown = 0
    for name, count in incl_counts.most_common():
        label = pretty.get(name, name)
        if any(s in label for s in skip):
            continue
        print("  %5.1f %%  %s" % (100.0 * count / total, label[:150]))
        shown += 1
        if shown >= args.top:
            break


if __name__ == "__main__":
    main()
