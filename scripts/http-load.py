#!/usr/bin/env python3
"""A bounded, constant HTTP load through pier's router, for scripts/bench-deploy.

    http-load.py ADDR HOST OUT [--rate 200] [--clients 16] [--seconds 600]
                 [--max-requests 200000] [--stop-file FILE] [--path /] [--marker REGEX]

CLIENTS threads send RATE requests/s in all, each on a fresh connection (`Connection: close`),
GET PATH with `Host: HOST` to ADDR (host:port). It stops by itself after SECONDS or
MAX_REQUESTS requests, or as soon as STOP_FILE exists, then writes OUT (JSON): one row per
request, `[start, seconds, status, marker]`, where status is the HTTP status or the connection
error's name, and marker the first group of REGEX in the body (or "-").
"""

import argparse
import http.client
import json
import os
import re
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("addr")
    parser.add_argument("host")
    parser.add_argument("out")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--max-requests", type=int, default=200_000)
    parser.add_argument("--stop-file")
    parser.add_argument("--path", default="/")
    parser.add_argument("--marker")
    args = parser.parse_args()
    host, port = args.addr.rsplit(":", 1)
    marker = re.compile(args.marker) if args.marker else None
    interval = args.clients / args.rate
    started = time.time()
    end = started + args.seconds
    per_client = args.max_requests // args.clients
    rows = [[] for _ in range(args.clients)]

    def client(index):
        mine = rows[index]
        due = started + interval * index / args.clients
        while len(mine) < per_client:
            now = time.time()
            if now >= end or (args.stop_file and os.path.exists(args.stop_file)):
                return
            if due > now:
                time.sleep(due - now)
            # Constant rate: a slow request delays the next one, never causes a burst after it.
            due = max(due + interval, time.time())
            t0 = time.time()
            seen = "-"
            try:
                conn = http.client.HTTPConnection(host, int(port), timeout=35)
                conn.request("GET", args.path, headers={"Host": args.host, "Connection": "close"})
                response = conn.getresponse()
                body = response.read().decode("utf-8", "replace")
                conn.close()
                status = response.status
                if marker:
                    found = marker.search(body)
                    seen = found.group(1) if found else "-"
            except Exception as error:  # every failure counts, whatever its kind
                status = type(error).__name__
            mine.append([round(t0, 4), round(time.time() - t0, 4), status, seen])

    threads = [threading.Thread(target=client, args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    merged = sorted(row for client_rows in rows for row in client_rows)
    with open(args.out, "w") as out:
        json.dump(merged, out)


if __name__ == "__main__":
    main()
