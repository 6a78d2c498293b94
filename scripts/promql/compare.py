#!/usr/bin/env python3
"""Runs the same PromQL queries against two Prometheus-compatible HTTP APIs and compares.

    compare.py QUERIES --a URL --b URL --times T1,T2,... --range START,END,STEP
               [--a-name prometheus] [--b-name pier] [--report FILE]

Each query (one per line in QUERIES; `#` comments and blank lines skipped) is sent as an
instant query (/api/v1/query) at every time in --times and as one range query
(/api/v1/query_range) over --range. Two answers agree when both are errors, or both succeed
with the same result type and:
  - scalar/string: equal values;
  - vector: the same set of label sets, each with an equal value;
  - matrix: the same set of label sets, each with the same timestamps and equal values.
Values are equal as Prometheus's test suite compares them (prometheus util/almost): NaN equals
NaN, otherwise exact or within a relative 1e-6. Vector order is not compared (Prometheus
leaves it unspecified except after sort()).

Prints every difference, then the agreement ratio; exits 0 (the caller decides what ratio
is acceptable). --report writes the same to FILE.
"""

import argparse
import json
import math
import sys
import urllib.error
import urllib.parse
import urllib.request


def fetch(base, path, params):
    url = base.rstrip("/") + path
    data = urllib.parse.urlencode(params).encode()
    req = urllib.request.Request(url, data=data, method="POST")
    req.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(req, timeout=120) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return json.loads(body)
        except ValueError:
            return {"status": "error", "errorType": f"http {e.code}", "error": body[:200].decode("utf-8", "replace")}
    except (urllib.error.URLError, TimeoutError, ConnectionError) as e:
        return {"status": "error", "errorType": "transport", "error": str(e)}


def fnum(s):
    return float(s)  # Python parses "NaN", "+Inf", "-Inf"


def almost_equal(a, b, eps=1e-6):
    if math.isnan(a) and math.isnan(b):
        return True
    if a == b:
        return True
    if math.isnan(a) or math.isnan(b) or math.isinf(a) or math.isinf(b):
        return False
    diff = abs(a - b)
    min_normal = 2.2250738585072014e-308
    if a == 0 or b == 0 or abs(a) + abs(b) < min_normal:
        return diff < eps * min_normal
    return diff / (abs(a) + abs(b)) < eps


def key(metric):
    return tuple(sorted(metric.items()))


def show_labels(k):
    return "{" + ", ".join(f'{n}="{v}"' for n, v in k) + "}"


def compare(a, b):
    """None if the answers agree, else a short description of the first difference."""
    if a.get("status") != "success" or b.get("status") != "success":
        if a.get("status") == b.get("status"):
            return None
        return f"status {a.get('status')} vs {b.get('status')}: {a.get('error') or b.get('error')}"
    da, db = a["data"], b["data"]
    if da["resultType"] != db["resultType"]:
        return f"result type {da['resultType']} vs {db['resultType']}"
    kind, ra, rb = da["resultType"], da["result"], db["result"]
    if kind in ("scalar", "string"):
        if ra[0] != rb[0]:
            return f"time {ra[0]} vs {rb[0]}"
        if kind == "string":
            return None if ra[1] == rb[1] else f"{ra[1]!r} vs {rb[1]!r}"
        return None if almost_equal(fnum(ra[1]), fnum(rb[1])) else f"{ra[1]} vs {rb[1]}"
    field = "value" if kind == "vector" else "values"
    ma = {key(s["metric"]): s[field] for s in ra}
    mb = {key(s["metric"]): s[field] for s in rb}
    if len(ma) != len(ra) or len(mb) != len(rb):
        return "duplicate label sets in a result"
    only_a, only_b = ma.keys() - mb.keys(), mb.keys() - ma.keys()
    if only_a or only_b:
        parts = []
        if only_a:
            parts.append(f"{len(only_a)} series only in A, e.g. {show_labels(sorted(only_a)[0])}")
        if only_b:
            parts.append(f"{len(only_b)} series only in B, e.g. {show_labels(sorted(only_b)[0])}")
        return "; ".join(parts)
    for k in sorted(ma):
        pa, pb = ma[k], mb[k]
        if kind == "vector":
            pa, pb = [pa], [pb]
        if len(pa) != len(pb):
            ta, tb = {t for t, _ in pa}, {t for t, _ in pb}
            return (f"{show_labels(k)}: {len(pa)} vs {len(pb)} points; only in A at "
                    f"{sorted(ta - tb)[:3]}, only in B at {sorted(tb - ta)[:3]}")
        for (ta, va), (tb, vb) in zip(pa, pb):
            if ta != tb:
                return f"{show_labels(k)}: point at {ta} vs {tb}"
            if not almost_equal(fnum(va), fnum(vb)):
                return f"{show_labels(k)} @ {ta}: {va} vs {vb}"
    return None


def queries_from(path):
    with open(path) as f:
        return [l.strip() for l in f if l.strip() and not l.strip().startswith("#")]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("queries")
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--a-name", default="prometheus")
    p.add_argument("--b-name", default="pier")
    p.add_argument("--times", required=True)
    p.add_argument("--range", required=True)
    p.add_argument("--report")
    args = p.parse_args()
    times = args.times.split(",")
    start, end, step = args.range.split(",")
    out = []
    total = agree = 0
    both_failed = 0
    for q in queries_from(args.queries):
        checks = [("query", {"query": q, "time": t}, f"instant @ {t}") for t in times]
        checks.append(("query_range", {"query": q, "start": start, "end": end, "step": step},
                       f"range {start}..{end} step {step}"))
        for path, params, what in checks:
            a = fetch(args.a, "/api/v1/" + path, params)
            b = fetch(args.b, "/api/v1/" + path, params)
            total += 1
            diff = compare(a, b)
            if diff is None:
                agree += 1
                if a.get("status") != "success":
                    both_failed += 1
                    if a.get("errorType") != b.get("errorType"):
                        out.append(f"note  {q}  [{what}]: both fail, errorType {a.get('errorType')} vs {b.get('errorType')}")
            else:
                diff = diff.replace("only in A", f"only in {args.a_name}").replace("only in B", f"only in {args.b_name}")
                out.append(f"DIFF  {q}  [{what}]: {diff}")
                if a.get("status") != "success":
                    out.append(f"      {args.a_name}: {a.get('errorType')}: {a.get('error')}")
                if b.get("status") != "success":
                    out.append(f"      {args.b_name}: {b.get('errorType')}: {b.get('error')}")
    ratio = agree / total if total else 0.0
    out.append(f"agreement: {agree}/{total} results ({100 * ratio:.2f} %) over "
               f"{len(queries_from(args.queries))} queries; {both_failed} of the agreeing answers are errors on both sides")
    text = "\n".join(out)
    print(text)
    if args.report:
        with open(args.report, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
