#!/usr/bin/env python3
"""Deterministic node-exporter-like metrics for scripts/bench-tsdb.

    gen-openmetrics.py files OUTDIR --series N --hours H [--file-hours 2] [--kinds K,...]
                       [--start-hours S] [--offset-ms MS]
        writes OUTDIR/part-NNN.om, one OpenMetrics file per FILE_HOURS of history (aligned on
        FILE_HOURS from a fixed start, each file's samples later than the previous file's),
        every sample timestamped on an exact 15 s grid, `# EOF` at the end; prints a JSON
        summary (series, samples, files, mix) on stdout. --start-hours begins the history
        that many hours after the fixed start (files are named after their hour, so two runs
        with different starts can share OUTDIR); --offset-ms moves every timestamp off the
        grid by that many milliseconds (so that evaluation times on whole seconds never fall
        on a sample, see scripts/compare-prometheus).
    gen-openmetrics.py serve PORT --series N [--interval S] [--wait-for PATH]
        serves the same series (current values, Prometheus text format 0.0.4) over HTTP;
        an empty payload until PATH exists (so a scraper's idle baseline can be measured).

Each simulated node ("instance") has 200 series, as node exporter's (it is dominated by
slowly changing counters and gauges) plus an application histogram:
    node_cpu_seconds_total{cpu,mode}       64  counters, 8 cpus x 8 modes, 2 decimals (USER_HZ)
    node_cpu_guest_seconds_total{cpu,mode} 16  counters, always 0
    node_memory_*_bytes                    25  gauges, multiples of 4096; 16 change, 9 constant
    node_filesystem_*{mountpoint,...}      24  gauges, 4 filesystems; mostly constant
    node_network_*_total{device}           12  counters, 2 devices; bytes/packets irregular
    node_disk_*{device}                    12  counters (io time in ms) + io_now gauge
    node_load1/5/15                         3  gauges, 2 decimals
    misc (context switches, forks, procs,  18  counters and gauges, incl. up, scrape_duration
          time, sockstat, netstat, up...)       _seconds (full precision float)
    http_request_duration_seconds{handler} 26  2 histograms x (11 buckets + _sum + _count)
Kinds for --kinds: cpu, mem, fs, net, disk, load, misc, hist (default: all).
SERIES is rounded to whole nodes (SERIES / 200, at least 1).
"""

import argparse
import http.server
import json
import math
import os
import random
import sys
import threading
import time

STEP = 15  # seconds between samples
START = 1704067200  # 2024-01-01T00:00:00Z, a multiple of 2 h
PER_NODE = 200

# ---------------------------------------------------------------------------------------
# Models. Each family model, for one node, advances n steps and returns groups: a group is a
# list of (sample name, label text, [value strings]) written step by step together (one
# series, or a histogram's buckets + count + sum at each timestamp).


def fmt_int(v):
    return str(int(v))


class Family:
    def __init__(self, name, kind, type_, make):
        self.name, self.kind, self.type = name, kind, type_
        self.make = make  # make(rng, node_labels) -> object with advance(n)


def labels_text(pairs):
    return "{" + ",".join(f'{k}="{v}"' for k, v in pairs) + "}"


class Cpu:
    MODES = ["idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"]

    def __init__(self, rng, base, ncpu=8):
        self.rng = rng
        self.util = rng.uniform(0.05, 0.5)
        self.niceish = rng.random() < 0.3
        uptime_cs = rng.randint(86400, 40 * 86400) * 100
        self.series = []
        for cpu in range(ncpu):
            for mode in self.MODES:
                share = {"idle": 0.7, "user": 0.18, "system": 0.07, "iowait": 0.02}.get(mode, 0.005)
                if mode == "steal" or (mode == "nice" and not self.niceish):
                    share = 0
                lab = labels_text(base + [("cpu", str(cpu)), ("mode", mode)])
                self.series.append([lab, mode, int(uptime_cs * share * rng.uniform(0.8, 1.2))])

    def advance(self, n):
        rng = self.rng
        out = {id(s): [] for s in self.series}
        for _ in range(n):
            self.util = min(0.95, max(0.02, self.util + rng.gauss(0, 0.02)))
            for i in range(0, len(self.series), len(self.MODES)):
                busy = min(1.0, max(0.0, self.util * rng.uniform(0.5, 1.5))) * 1500
                parts = {
                    "user": busy * 0.62, "system": busy * 0.25, "iowait": busy * 0.06,
                    "irq": busy * 0.01, "softirq": busy * 0.03,
                    "nice": busy * 0.03 if self.niceish else 0.0, "steal": 0.0,
                }
                total = 1500 + rng.randint(-2, 2)  # scrape jitter: ~15 s of cpu time
                used = 0
                for s in self.series[i:i + len(self.MODES)]:
                    mode = s[1]
                    if mode == "idle":
                        continue
                    inc = int(parts[mode] * rng.uniform(0.7, 1.3)) if parts[mode] else 0
                    s[2] += inc
                    used += inc
                for s in self.series[i:i + len(self.MODES)]:
                    if s[1] == "idle":
                        s[2] += max(0, total - used)
                    out[id(s)].append(f"{s[2] // 100}.{s[2] % 100:02d}")
        return [[("node_cpu_seconds_total", s[0], out[id(s)])] for s in self.series]


class Constant:
    """Series that never change (guest cpu time, constant gauges)."""

    def __init__(self, name, series):  # series: [(label text, value string)]
        self.name, self.series = name, series

    def advance(self, n):
        return [[(self.name, lab, [v] * n)] for lab, v in self.series]


class Walk:
    """An integer gauge that changes with probability p by a multiple of `unit`."""

    def __init__(self, rng, name, lab, start, p, scale, unit, lo=0, hi=None):
        self.rng, self.name, self.lab = rng, name, lab
        self.v, self.p, self.scale, self.unit, self.lo, self.hi = start, p, scale, unit, lo, hi

    def advance(self, n):
        rng, vals = self.rng, []
        for _ in range(n):
            if rng.random() < self.p:
                self.v += int(rng.gauss(0, self.scale)) * self.unit
                self.v = max(self.lo, self.v if self.hi is None else min(self.hi, self.v))
            vals.append(str(self.v))
        return [[(self.name, self.lab, vals)]]


class Counter:
    """An integer counter growing irregularly: `rate` per step on average, zero with 1-p."""

    def __init__(self, rng, name, lab, start, rate, p=1.0, unit=1):
        self.rng, self.name, self.lab = rng, name, lab
        self.v, self.rate, self.p, self.unit = start, rate, p, unit
        self.level = 1.0

    def advance(self, n):
        rng, vals = self.rng, []
        for _ in range(n):
            self.level = min(4.0, max(0.2, self.level * math.exp(rng.gauss(0, 0.1))))
            if rng.random() < self.p:
                self.v += int(self.rate * self.level * rng.uniform(0.5, 1.5) / self.unit) * self.unit
            vals.append(str(self.v))
        return [[(self.name, self.lab, vals)]]


class FloatGauge:
    """A mean-reverting float gauge printed with `digits` decimals (None: full precision)."""

    def __init__(self, rng, name, lab, mean, sd, digits):
        self.rng, self.name, self.lab = rng, name, lab
        self.mean, self.sd, self.digits, self.v = mean, sd, digits, mean

    def advance(self, n):
        rng, vals = self.rng, []
        for _ in range(n):
            self.v = max(0.0, self.v + 0.2 * (self.mean - self.v) + rng.gauss(0, self.sd))
            vals.append(repr(self.v) if self.digits is None else f"{self.v:.{self.digits}f}")
        return [[(self.name, self.lab, vals)]]


class Load:
    def __init__(self, rng, base):
        self.rng, self.base = rng, labels_text(base)
        self.l1 = self.l5 = self.l15 = rng.uniform(0.2, 4)

    def advance(self, n):
        rng, a, b, c = self.rng, [], [], []
        for _ in range(n):
            inst = max(0.0, self.l1 + rng.gauss(0, 0.4))
            self.l1 += (inst - self.l1) * (1 - math.exp(-15 / 60))
            self.l5 += (inst - self.l5) * (1 - math.exp(-15 / 300))
            self.l15 += (inst - self.l15) * (1 - math.exp(-15 / 900))
            a.append(f"{self.l1:.2f}"); b.append(f"{self.l5:.2f}"); c.append(f"{self.l15:.2f}")
        return [[("node_load1", self.base, a)], [("node_load5", self.base, b)],
                [("node_load15", self.base, c)]]


class LoadView:
    """One of the three load families; the first advances the shared model."""

    def __init__(self, load, index):
        self.load, self.index = load, index

    def advance(self, n):
        if self.index == 0:
            self.load.last = self.load.advance(n)
        return [self.load.last[self.index]]


class NodeTime:
    def __init__(self, rng, lab):
        self.rng, self.lab, self.t = rng, lab, None

    def advance(self, n, t0=None):
        vals = []
        for i in range(n):
            vals.append(f"{self.t + i * STEP + self.rng.uniform(0, 0.05):.3f}")
        self.t += n * STEP
        return [[("node_time_seconds", self.lab, vals)]]


class Histogram:
    BOUNDS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "5", "+Inf"]
    MIDS = [0.003, 0.008, 0.018, 0.038, 0.075, 0.17, 0.37, 0.75, 1.7, 3.7, 7.0]

    def __init__(self, rng, base, handler, rate):
        self.rng, self.rate = rng, rate
        self.base = base + [("handler", handler)]
        # fraction of requests per bucket (not cumulative): a log-normal-ish shape
        w = [1, 3, 8, 14, 16, 12, 6, 3, 1, 0.3, 0.1]
        self.p = [x / sum(w) for x in w]
        self.counts = [0] * len(w)
        self.sum = 0.0
        self.level = 1.0
        self.bucket_labs = [labels_text(self.base + [("le", le)]) for le in self.BOUNDS]
        self.lab = labels_text(self.base)

    def advance(self, n):
        rng = self.rng
        buckets = [[] for _ in self.BOUNDS]
        counts, sums = [], []
        for _ in range(n):
            self.level = min(5.0, max(0.1, self.level * math.exp(rng.gauss(0, 0.1))))
            reqs = self.rate * 15 * self.level
            cum = 0
            for b, p in enumerate(self.p):
                inc = int(reqs * p * rng.uniform(0.6, 1.4) + rng.random())
                self.counts[b] += inc
                self.sum += inc * self.MIDS[b] * rng.uniform(0.8, 1.2)
                cum += self.counts[b]
                buckets[b].append(str(cum))
            counts.append(str(cum))
            sums.append(repr(self.sum))
        name = "http_request_duration_seconds"
        group = [(name + "_bucket", lab, vals) for lab, vals in zip(self.bucket_labs, buckets)]
        group.append((name + "_count", self.lab, counts))
        group.append((name + "_sum", self.lab, sums))
        return [group]


MEM = [  # name, start (bytes), probability of change per step, sd in pages; p=0: constant
    ("MemTotal", 16 << 30, 0, 0), ("MemFree", 3 << 30, 0.95, 3000), ("MemAvailable", 9 << 30, 0.95, 3000),
    ("Buffers", 300 << 20, 0.5, 20), ("Cached", 6 << 30, 0.9, 2000), ("SwapCached", 0, 0, 0),
    ("Active", 7 << 30, 0.9, 1500), ("Inactive", 4 << 30, 0.9, 1500), ("Active_anon", 4 << 30, 0.9, 1000),
    ("Inactive_anon", 1 << 30, 0.6, 200), ("Active_file", 3 << 30, 0.9, 800), ("Inactive_file", 3 << 30, 0.8, 800),
    ("Unevictable", 0, 0, 0), ("Mlocked", 0, 0, 0), ("SwapTotal", 0, 0, 0), ("SwapFree", 0, 0, 0),
    ("Dirty", 2 << 20, 0.95, 300), ("Writeback", 0, 0.05, 3), ("AnonPages", 4 << 30, 0.9, 1000),
    ("Mapped", 500 << 20, 0.6, 100), ("Shmem", 100 << 20, 0.3, 20), ("Slab", 700 << 20, 0.7, 100),
    ("PageTables", 60 << 20, 0.7, 30), ("HugePages_Total", 0, 0, 0), ("VmallocTotal", 35184372087808, 0, 0),
]
FS = [("/", "/dev/sda1", "ext4", 100 << 30, 0.4), ("/boot", "/dev/sda2", "ext4", 1 << 30, 0.0),
      ("/var", "/dev/sdb1", "xfs", 500 << 30, 0.6), ("/run", "tmpfs", "tmpfs", 1600 << 20, 0.05)]


def build_node(seed, node, kinds, live):
    """The family models of one node, in output order: [(family, model)]."""
    inst = f"node-{node:03d}:9100"
    base = [("node", f"node-{node:03d}")] if live else [("instance", inst), ("job", "node")]
    lab = labels_text(base)

    def rng(family):
        return random.Random(f"{seed}/{node}/{family}")

    fams = []
    if "cpu" in kinds:
        fams.append(("node_cpu_seconds", "counter", Cpu(rng("cpu"), base)))
        fams.append(("node_cpu_guest_seconds", "counter", Constant("node_cpu_guest_seconds_total", [
            (labels_text(base + [("cpu", str(c)), ("mode", m)]), "0") for c in range(8) for m in ("nice", "user")])))
    if "mem" in kinds:
        r = rng("mem")
        for name, start, p, sd in MEM:
            start = start // 4096 * 4096 + (r.randint(-1000, 1000) * 4096 if start and p else 0)
            fams.append((f"node_memory_{name}_bytes", "gauge",
                         Walk(r, f"node_memory_{name}_bytes", lab, start, p, sd, 4096)))
    if "fs" in kinds:
        r = rng("fs")
        for metric in ("size_bytes", "avail_bytes", "free_bytes", "files", "files_free", "readonly"):
            models = []
            for mp, dev, fstype, size, p in FS:
                l = labels_text(base + [("device", dev), ("fstype", fstype), ("mountpoint", mp)])
                name = f"node_filesystem_{metric}"
                if metric in ("avail_bytes", "free_bytes"):
                    used = int(size * r.uniform(0.2, 0.7)) // 4096 * 4096
                    free = size - used - (size // 20 if metric == "avail_bytes" else 0)
                    models.append(Walk(r, name, l, free, p, 50, 4096))
                elif metric == "files_free":
                    models.append(Walk(r, name, l, size // 16384 - r.randint(10000, 90000), p, 20, 1))
                else:
                    v = {"size_bytes": size, "files": size // 16384, "readonly": 0}[metric]
                    models.append(Constant(name, [(l, str(v))]))
            fams.append((f"node_filesystem_{metric}", "gauge", Multi(models)))
    if "net" in kinds:
        r = rng("net")
        for metric, rates in (("receive_bytes", (150000, 20000)), ("transmit_bytes", (90000, 20000)),
                              ("receive_packets", (180, 40)), ("transmit_packets", (150, 40)),
                              ("receive_drop", (1, 0)), ("transmit_errs", (0, 0))):
            models = []
            for dev, rate in zip(("eth0", "lo"), rates):
                l = labels_text(base + [("device", dev)])
                p = 0.01 if metric == "receive_drop" else (1.0 if rate else 0.0)
                models.append(Counter(r, f"node_network_{metric}_total", l,
                                      r.randint(0, 10**12) if rate > 100 else r.randint(0, 10**6) * (rate > 0),
                                      rate * 15 if rate > 1 else 1, p))
            fams.append((f"node_network_{metric}", "counter", Multi(models)))
    if "disk" in kinds:
        r = rng("disk")
        for metric, rate, unit, p in (("reads_completed", 5, 1, 0.5), ("writes_completed", 40, 1, 0.95),
                                      ("read_bytes", 5 * 16384, 4096, 0.5), ("written_bytes", 40 * 8192, 4096, 0.95),
                                      ("io_time_seconds", 300, 1, 0.95)):
            models = []
            for dev in ("sda", "sdb"):
                l = labels_text(base + [("device", dev)])
                c = Counter(r, f"node_disk_{metric}_total", l, r.randint(0, 10**9) // unit * unit,
                            rate * 15 if metric != "io_time_seconds" else 1500 * r.uniform(0.05, 0.3), p, unit)
                models.append(Millis(c) if metric == "io_time_seconds" else c)
            fams.append((f"node_disk_{metric}", "counter", Multi(models)))
        fams.append(("node_disk_io_now", "gauge", Multi([
            Walk(r, "node_disk_io_now", labels_text(base + [("device", d)]), 0, 0.5, 1, 1, 0, 8) for d in ("sda", "sdb")])))
    if "load" in kinds:
        load = Load(rng("load"), base)
        fams += [(f"node_load{m}", "gauge", LoadView(load, i)) for i, m in enumerate((1, 5, 15))]
    if "misc" in kinds:
        r = rng("misc")
        boot = START - r.randint(86400, 40 * 86400)
        nt = NodeTime(r, lab)
        fams += [
            ("node_context_switches", "counter", Counter(r, "node_context_switches_total", lab, r.randint(0, 10**10), 15 * 4000)),
            ("node_intr", "counter", Counter(r, "node_intr_total", lab, r.randint(0, 10**10), 15 * 2500)),
            ("node_forks", "counter", Counter(r, "node_forks_total", lab, r.randint(0, 10**7), 15 * 3)),
            ("node_procs_running", "gauge", Walk(r, "node_procs_running", lab, 2, 0.7, 1.2, 1, 1, 12)),
            ("node_procs_blocked", "gauge", Walk(r, "node_procs_blocked", lab, 0, 0.1, 0.8, 1, 0, 3)),
            ("node_boot_time_seconds", "gauge", Constant("node_boot_time_seconds", [(lab, str(boot))])),
            ("node_time_seconds", "gauge", nt),
            ("node_entropy_available_bits", "gauge", Constant("node_entropy_available_bits", [(lab, "256")])),
            ("node_filefd_allocated", "gauge", Walk(r, "node_filefd_allocated", lab, 3000, 0.6, 15, 1, 100)),
            ("node_filefd_maximum", "gauge", Constant("node_filefd_maximum", [(lab, "9223372036854775807")])),
            ("node_sockstat_TCP_inuse", "gauge", Walk(r, "node_sockstat_TCP_inuse", lab, 40, 0.6, 3, 1, 1)),
            ("node_sockstat_sockets_used", "gauge", Walk(r, "node_sockstat_sockets_used", lab, 300, 0.7, 4, 1, 10)),
            ("node_netstat_Tcp_ActiveOpens", "counter", Counter(r, "node_netstat_Tcp_ActiveOpens_total", lab, r.randint(0, 10**7), 15 * 2)),
            ("node_netstat_Tcp_PassiveOpens", "counter", Counter(r, "node_netstat_Tcp_PassiveOpens_total", lab, r.randint(0, 10**7), 15 * 3)),
            ("node_uname_info", "gauge", Constant("node_uname_info", [(labels_text(base + [("release", "6.1.0-18-amd64"), ("sysname", "Linux")]), "1")])),
            ("up", "gauge", Constant("up", [(lab, "1")])),
            ("scrape_duration_seconds", "gauge", FloatGauge(r, "scrape_duration_seconds", lab, 0.02, 0.004, None)),
            ("scrape_samples_scraped", "gauge", Constant("scrape_samples_scraped", [(lab, str(PER_NODE))])),
        ]
        nt.t = START
    if "hist" in kinds:
        r = rng("hist")
        fams.append(("http_request_duration_seconds", "histogram", Multi([
            Histogram(r, base, "/api/v1/query", 20), Histogram(r, base, "/metrics", 0.1)])))
    return fams


class Multi:
    def __init__(self, models):
        self.models = models

    def advance(self, n):
        return [g for m in self.models for g in m.advance(n)]


class Millis:
    """A counter of milliseconds printed as seconds with 3 decimals."""

    def __init__(self, counter):
        self.c = counter

    def advance(self, n):
        out = []
        for group in self.c.advance(n):
            out.append([(name, lab, [f"{int(v) // 1000}.{int(v) % 1000:03d}" for v in vals])
                        for name, lab, vals in group])
        return out


def nodes_for(series):
    return max(1, round(series / PER_NODE))


def family_header(name, type_, openmetrics):
    if openmetrics or type_ != "counter":
        return f"# TYPE {name} {type_}\n"
    return f"# TYPE {name}_total counter\n"


# ---------------------------------------------------------------------------------------


def cmd_files(a):
    kinds = set(a.kinds.split(","))
    nodes = [build_node(a.seed, n, kinds, live=False) for n in range(nodes_for(a.series))]
    steps_total = a.hours * 3600 // STEP
    per_file = a.file_hours * 3600 // STEP
    start = START + a.start_hours * 3600
    os.makedirs(a.outdir, exist_ok=True)
    samples = series = 0
    mix = {}
    for f, first in enumerate(range(0, steps_total, per_file)):
        n = min(per_file, steps_total - first)
        tss = [stamp(start + (first + i) * STEP, a.offset_ms) for i in range(n)]
        hour = a.start_hours + first * STEP // 3600
        path = os.path.join(a.outdir, f"part-{hour:05d}.om")
        with open(path, "w", buffering=1 << 22) as out:
            for fi in range(len(nodes[0])):
                name, type_, _ = nodes[0][fi]
                out.write(family_header(name, type_, True))
                for node in nodes:
                    for group in node[fi][2].advance(n):
                        if f == 0:
                            series += len(group)
                            mix[a_kind(name)] = mix.get(a_kind(name), 0) + len(group)
                        samples += n * len(group)
                        if len(group) == 1:
                            sname, lab, vals = group[0]
                            prefix = sname + lab + " "
                            out.write("".join([f"{prefix}{v} {t}\n" for v, t in zip(vals, tss)]))
                        else:
                            prefixes = [sname + lab + " " for sname, lab, _ in group]
                            cols = [vals for _, _, vals in group]
                            out.write("".join([f"{p}{c[i]} {tss[i]}\n" for i in range(n)
                                               for p, c in zip(prefixes, cols)]))
            out.write("# EOF\n")
        print(f"  wrote {path} ({os.path.getsize(path) >> 20} MiB)", file=sys.stderr)
    json.dump({"series": series, "samples": samples, "nodes": len(nodes), "files": f + 1,
               "step_s": STEP, "hours": a.hours, "start": start, "offset_ms": a.offset_ms,
               "mix": mix}, sys.stdout)
    print()


def stamp(seconds, offset_ms):
    """An OpenMetrics timestamp: whole seconds, or with a 3-digit fraction when offset."""
    if not offset_ms:
        return str(seconds)
    ms = seconds * 1000 + offset_ms
    return f"{ms // 1000}.{ms % 1000:03d}"


def a_kind(family):
    for prefix, kind in (("node_cpu", "cpu"), ("node_memory", "mem"), ("node_filesystem", "fs"),
                         ("node_network", "net"), ("node_disk", "disk"), ("node_load", "load"),
                         ("http_request", "hist")):
        if family.startswith(prefix):
            return kind
    return "misc"


def cmd_serve(a):
    kinds = set(a.kinds.split(","))
    nodes = [build_node(a.seed, n, kinds, live=True) for n in range(nodes_for(a.series))]
    lock = threading.Lock()
    cache = {"step": None, "body": b""}

    def body():
        if a.wait_for and not os.path.exists(a.wait_for):
            return b""
        step = int(time.time() // a.interval)
        with lock:
            if cache["step"] != step:
                out = []
                for fi in range(len(nodes[0])):
                    name, type_, _ = nodes[0][fi]
                    out.append(family_header(name, type_, False))
                    for node in nodes:
                        for group in node[fi][2].advance(1):
                            out.extend(f"{s}{lab} {vals[0]}\n" for s, lab, vals in group)
                cache["step"], cache["body"] = step, "".join(out).encode()
            return cache["body"]

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            b = body()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(b)))
            self.end_headers()
            self.wfile.write(b)

    http.server.ThreadingHTTPServer(("127.0.0.1", a.port), H).serve_forever()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("files")
    f.add_argument("outdir")
    f.add_argument("--hours", type=int, default=24)
    f.add_argument("--file-hours", type=int, default=2)
    f.add_argument("--start-hours", type=int, default=0)
    f.add_argument("--offset-ms", type=int, default=0)
    s = sub.add_parser("serve")
    s.add_argument("port", type=int)
    s.add_argument("--interval", type=float, default=1.0)
    s.add_argument("--wait-for")
    for x in (f, s):
        x.add_argument("--series", type=int, default=10000)
        x.add_argument("--seed", type=int, default=1)
        x.add_argument("--kinds", default="cpu,mem,fs,net,disk,load,misc,hist")
    a = p.parse_args()
    cmd_files(a) if a.cmd == "files" else cmd_serve(a)


if __name__ == "__main__":
    main()
