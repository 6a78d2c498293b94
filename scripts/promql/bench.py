#!/usr/bin/env python3
"""Times dashboard queries through two Prometheus-compatible HTTP APIs, interleaved.

    bench.py --a URL --b URL --end T [--runs 9] [--a-name prometheus] [--b-name pier]

Each query is a range query (what a Grafana panel sends) over the hour before T at a 15 s
step, or an instant query at T; each is sent to A and B alternately RUNS times after one
warm-up each, and the median wall time per side is kept. Prints a table with both medians,
the ratio B/A per query and the median ratio. The answers are also compared (series count)
so a fast wrong answer shows.
"""

import argparse
import statistics
import time

from compare import fetch

QUERIES = [
    ("rate + sum by mode (70 series/node)", "range",
     'sum by (mode) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))'),
    ("rate + sum by instance, mode (80/node)", "range",
     'sum by (instance, mode) (rate(node_cpu_seconds_total[5m]))'),
    ("histogram_quantile, 1 h at 15 s", "range",
     'histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))'),
    ("histogram_quantile by handler", "range",
     'histogram_quantile(0.9, sum by (le, handler) (rate(http_request_duration_seconds_bucket[1m])))'),
    ("topk", "range",
     'topk(5, rate(node_network_receive_bytes_total[5m]))'),
    ("7-day offset comparison", "range",
     'sum(rate(node_cpu_seconds_total[1h])) / sum(rate(node_cpu_seconds_total[1h] offset 7d))'),
    ("7-day offset, instant", "instant",
     'sum by (instance) (rate(node_network_transmit_bytes_total[1h])) - sum by (instance) (rate(node_network_transmit_bytes_total[1h] offset 7d))'),
    ("memory used %, instant", "instant",
     '100 * (1 - node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes)'),
]


def run(base, kind, query, end):
    if kind == "range":
        params = {"query": query, "start": end - 3600, "end": end, "step": 15}
        path = "/api/v1/query_range"
    else:
        params = {"query": query, "time": end}
        path = "/api/v1/query"
    t0 = time.perf_counter()
    answer = fetch(base, path, params)
    elapsed = time.perf_counter() - t0
    if answer.get("status") != "success":
        raise SystemExit(f"{base}: {query}: {answer.get('errorType')}: {answer.get('error')}")
    result = answer["data"]["result"]
    return elapsed, len(result) if isinstance(result, list) and answer["data"]["resultType"] in ("vector", "matrix") else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--a-name", default="prometheus")
    p.add_argument("--b-name", default="pier")
    p.add_argument("--end", type=int, required=True)
    p.add_argument("--runs", type=int, default=9)
    args = p.parse_args()
    rows, ratios = [], []
    for name, kind, query in QUERIES:
        run(args.a, kind, query, args.end)
        run(args.b, kind, query, args.end)
        ta, tb = [], []
        for _ in range(args.runs):
            t, na = run(args.a, kind, query, args.end)
            ta.append(t)
            t, nb = run(args.b, kind, query, args.end)
            tb.append(t)
        ma, mb = statistics.median(ta), statistics.median(tb)
        ratios.append(mb / ma)
        rows.append((name, kind, f"{ma * 1000:.1f}", f"{mb * 1000:.1f}", f"{mb / ma:.2f}",
                     f"{na}" if na == nb else f"{na} vs {nb} (!)"))
    head = ("query", "kind", f"{args.a_name} ms", f"{args.b_name} ms", f"{args.b_name}/{args.a_name}", "series")
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    for r in [head] + rows:
        print("  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
    print(f"median ratio {args.b_name}/{args.a_name}: {statistics.median(ratios):.2f} "
          f"(median of {args.runs} interleaved runs per query; below 1 means {args.b_name} is faster)")


if __name__ == "__main__":
    main()
