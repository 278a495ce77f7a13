#!/usr/bin/env python3
"""Instructions per request of the release proxy, counted by valgrind's callgrind.

Wall-clock rates move with whatever else the machine does; instruction counts do not, so this
is how a change to the request path is measured before and after (BENCHMARKS.md, "Profile").
It starts the proxy under `valgrind --tool=callgrind`, warms it up, zeroes the counters, sends
N requests of one kind over one keep-alive connection, dumps the counters and prints the
instructions per request (every thread of the process: tokio, librdkafka, ...) and the
functions with the most inclusive instructions.

    python3 docs/bench/per_request.py --bin target/release/kafka-rest \\
        --bootstrap 127.0.0.1:9092 --registry http://127.0.0.1:8081 --kind p2 --requests 2000

Kinds: p2 (one JSON record per request), p1 (100 JSON records), p3 (100 binary records),
p4 (100 Avro records by value_schema_id), c1 (binary records calls of max_bytes 4 MB over a
topic of --records records of ~100 B, filled through the proxy; counted per record), p5 (the
v3 streamed produce: one chunked request, --requests chunks of 100 JSON records, each chunk's
100 result lines read before the next is sent; counted per record), p6 (one JSON record per
v3 request).

Bodies are written as Python's `json.dumps` writes them (`", "` and `": "` between items),
as many clients send them; `--compact` writes them without spaces, as `cargo xtask bench`
sends them, so that the counts are those of the bench's own requests.
"""

import argparse
import base64
import glob
import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

PAYLOAD = "abcdefghijklmnopqrstuvwxyz0123456789abcdefghij"
AVRO_SCHEMA = json.dumps({"type": "record", "name": "BenchRecord", "fields": [
    {"name": "id", "type": "string"}, {"name": "name", "type": "string"},
    {"name": "payload", "type": "string"}]})


def record(i):
    return {"id": f"{i:08}", "name": "bench-record", "payload": PAYLOAD}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def log(msg):
    print(f"[per-request] {msg}", flush=True)


class Client:
    def __init__(self, port):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)

    def call(self, method, path, body=None, ctype="application/vnd.kafka.v2+json", accept=None):
        headers = {}
        if body is not None:
            headers["Content-Type"] = ctype
        if accept:
            headers["Accept"] = accept
        self.conn.request(method, path, body=body, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        return resp.status, data


def produce_body(kind, schema_id=None):
    if kind == "p2":
        return body_json({"records": [{"value": record(0)}]}), "application/vnd.kafka.json.v2+json"
    if kind == "p1":
        return body_json({"records": [{"value": record(i)} for i in range(100)]}), \
            "application/vnd.kafka.json.v2+json"
    if kind == "p3":
        recs = [{"value": base64.b64encode(body_json(record(i)).encode()).decode()} for i in range(100)]
        return body_json({"records": recs}), "application/vnd.kafka.binary.v2+json"
    if kind == "p4":
        return body_json({"value_schema_id": schema_id, "records": [{"value": record(i)} for i in range(100)]}), \
            "application/vnd.kafka.avro.v2+json"
    raise ValueError(kind)


PROXY_PID = None

# `json.dumps`'s separators for request bodies; `--compact` sets them to `(",", ":")`.
SEPARATORS = None


def body_json(value):
    return json.dumps(value, separators=SEPARATORS)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--bootstrap", required=True)
    ap.add_argument("--registry", required=True)
    ap.add_argument("--kind", default="p2", choices=["p1", "p2", "p3", "p4", "c1", "p5", "p6"])
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--records", type=int, default=60_000, help="c1: records in the topic")
    ap.add_argument("--out", default=None, help="keep the callgrind output here")
    ap.add_argument("--compact", action="store_true",
                    help="request bodies without spaces, as `cargo xtask bench` sends them")
    args = ap.parse_args()
    global SEPARATORS
    if args.compact:
        SEPARATORS = (",", ":")

    port = free_port()
    out_dir = args.out or tempfile.mkdtemp(prefix="callgrind-")
    os.makedirs(out_dir, exist_ok=True)
    out_file = os.path.join(out_dir, "callgrind.out")
    env = dict(os.environ,
               KAFKA_REST_LISTENERS=f"http://127.0.0.1:{port}",
               KAFKA_REST_BOOTSTRAP_SERVERS=args.bootstrap,
               KAFKA_REST_SCHEMA_REGISTRY_URL=args.registry,
               KAFKA_REST_LOG="warn")
    log(f"starting {args.bin} under callgrind on port {port}")
    global PROXY_PID
    proc = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out_file}.%p",
                             args.bin], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    PROXY_PID = proc.pid
    try:
        for _ in range(600):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.5)
        else:
            sys.exit("the proxy did not listen")
        c = Client(port)
        topic = f"callgrind-{args.kind}-{int(time.time())}"
        # The topic: created through v3 (needs the cluster id).
        _, clusters = c.call("GET", "/v3/clusters")
        cluster = json.loads(clusters)["data"][0]["cluster_id"]
        status, body = c.call("POST", f"/v3/clusters/{cluster}/topics",
                              json.dumps({"topic_name": topic, "partitions_count": 3}),
                              ctype="application/json")
        if status not in (200, 201):
            sys.exit(f"cannot create {topic}: {status} {body[:200]}")
        log(f"topic {topic} created")
        # Under callgrind the proxy is slow: the first produce's metadata fetch could time out
        # while the new topic's leaders are still being elected, so wait until they are known.
        for _ in range(120):
            status, body = c.call("GET", f"/topics/{topic}/partitions")
            parts = json.loads(body) if status == 200 else []
            if len(parts) == 3 and all(p.get("leader") is not None and p["leader"] >= 0 for p in parts):
                break
            time.sleep(0.5)
        else:
            sys.exit(f"the partitions of {topic} have no leaders after 60 s")
        if args.kind == "c1":
            count = measure_c1(c, topic, args)
        elif args.kind in ("p5", "p6"):
            count = measure_v3(c, port, cluster, topic, args)
        else:
            count = measure_produce(c, topic, args)
        pid = proc.pid
        subprocess.run(["callgrind_control", "-d", str(pid)], check=True, stdout=subprocess.DEVNULL)
        time.sleep(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=120)
        except subprocess.TimeoutExpired:
            proc.kill()
    dumps = sorted(f for f in glob.glob(f"{out_file}.{proc.pid}*") if not f.endswith(f".{proc.pid}"))
    if not dumps:
        sys.exit("no callgrind dump found")
    dump = max(dumps, key=os.path.getmtime)
    total = totals(dump)
    units, unit_name = count
    log(f"dump {dump}")
    print(f"{args.kind}: {total:,} instructions over {units:,} {unit_name} = {total / units:,.0f} per {unit_name.rstrip('s')}")
    top = subprocess.run(["callgrind_annotate", "--inclusive=yes", dump], capture_output=True, text=True).stdout
    print("\n".join(top.splitlines()[:60]))


def totals(path):
    with open(path) as f:
        for line in f:
            if line.startswith("totals:") or line.startswith("summary:"):
                return int(line.split()[1])
    raise SystemExit(f"no totals in {path}")


def measure_produce(c, topic, args):
    schema_id = None
    if args.kind == "p4":
        status, body = c.call("POST", f"/topics/{topic}",
                              json.dumps({"value_schema": AVRO_SCHEMA, "records": [{"value": record(0)}]}),
                              ctype="application/vnd.kafka.avro.v2+json")
        if status != 200:
            sys.exit(f"cannot register the schema: {status} {body[:300]}")
        schema_id = json.loads(body)["value_schema_id"]
    body, ctype = produce_body(args.kind, schema_id)
    path = f"/topics/{topic}"
    log(f"warm-up: {args.warmup} requests")
    for _ in range(args.warmup):
        status, answer = c.call("POST", path, body, ctype=ctype)
        if status != 200 or b'"error_code":5' in answer:
            sys.exit(f"produce failed: {status} {answer[:300]}")
    zero_all()
    log(f"measuring {args.requests} requests")
    for i in range(args.requests):
        status, answer = c.call("POST", path, body, ctype=ctype)
        if status != 200:
            sys.exit(f"produce failed: {status} {answer[:300]}")
    return args.requests, "requests"


def v3_record(i):
    return body_json({"value": {"type": "JSON", "data": record(i)}})


def measure_v3(c, port, cluster, topic, args):
    path = f"/v3/clusters/{cluster}/topics/{topic}/records"
    if args.kind == "p6":
        body = v3_record(0)
        for phase, n in (("warm-up", args.warmup), ("measuring", args.requests)):
            log(f"{phase}: {n} requests")
            if phase == "measuring":
                zero_all()
            for _ in range(n):
                status, answer = c.call("POST", path, body, ctype="application/json")
                if status != 200 or not answer.startswith(b'{"error_code":200'):
                    sys.exit(f"produce failed: {status} {answer[:300]}")
        return args.requests, "requests"
    objects = "".join(v3_record(i) for i in range(100)).encode()
    chunk = b"%x\r\n" % len(objects) + objects + b"\r\n"
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked\r\n\r\n".encode())
    answered = 0

    def round_trip():
        nonlocal answered
        s.sendall(chunk)
        want = answered + 100
        while answered < want:
            data = s.recv(1 << 20)
            if not data:
                sys.exit("the stream ended")
            answered += data.count(b'"error_code":200')
            if b'"error_code":4' in data or b'"error_code":5' in data:
                sys.exit(f"a record failed: {data[:300]}")

    log(f"warm-up: {args.warmup} chunks of 100 records")
    for _ in range(args.warmup):
        round_trip()
    zero_all()
    log(f"measuring {args.requests} chunks of 100 records")
    for _ in range(args.requests):
        round_trip()
    s.sendall(b"0\r\n\r\n")
    return args.requests * 100, "records"


def zero_all():
    # The valgrind process is the proxy (valgrind replaces itself with the tool). Only this
    # run's: zeroing every callgrind process would cut the counts of another run in progress.
    subprocess.run(["callgrind_control", "-z", str(PROXY_PID)], stdout=subprocess.DEVNULL)


def measure_c1(c, topic, args):
    body, ctype = produce_body("p3")
    fill = args.records
    log(f"filling {topic} with {fill} records through the proxy")
    for _ in range(fill // 100):
        status, answer = c.call("POST", f"/topics/{topic}", body, ctype=ctype)
        if status != 200:
            sys.exit(f"fill failed: {status} {answer[:300]}")
    group = f"{topic}-g"
    c.call("POST", f"/consumers/{group}", json.dumps({"name": "c", "format": "binary",
                                                      "auto.offset.reset": "earliest"}))
    parts = [{"topic": topic, "partition": p} for p in range(3)]
    status, answer = c.call("POST", f"/consumers/{group}/instances/c/assignments",
                            json.dumps({"partitions": parts}))
    if status != 204:
        sys.exit(f"assign failed: {status} {answer[:300]}")
    path = f"/consumers/{group}/instances/c/records?timeout=1000&max_bytes=4000000"
    accept = "application/vnd.kafka.binary.v2+json"
    read = 0
    # Warm-up: the first calls (a sixth of the topic) are not counted.
    while read < fill // 6:
        _, answer = c.call("GET", path, accept=accept)
        read += answer.count(b'"offset":')
    zero_all()
    log("measuring records calls until the topic is drained")
    calls, counted = 0, 0
    while read < fill:
        _, answer = c.call("GET", path, accept=accept)
        n = answer.count(b'"offset":')
        read += n
        counted += n
        calls += 1
    log(f"{calls} records calls returned {counted} records")
    return counted, "records"


if __name__ == "__main__":
    main()
