#!/usr/bin/env python3
"""mcp_timing.py JIT ROLE RUNS OUT: time `jit mcp` as an MCP client sees it.

Speaks the protocol itself (JSON-RPC, one message per line on stdio), so that what is timed
is jit and not a client library. Writes OUT as JSON:
  startup_ms: RUNS times, from starting `jit mcp` to its answer to `initialize`;
  request_ms: RUNS times, one session: a `request_access` call on ROLE (which needs no
              approval) to its result; each lease is dropped (`drop_access`) after, untimed.
Every result is checked: the lease granted, then revoked.
"""
import json
import subprocess
import sys
import time

jit, role, runs, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "jit-bench", "version": "1"},
    },
}


def start():
    return subprocess.Popen(
        [jit, "mcp"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        bufsize=1,
    )


def send(proc, message):
    proc.stdin.write(json.dumps(message) + "\n")
    proc.stdin.flush()


def answer(proc, id_):
    """The response to request `id_` (notifications before it are skipped)."""
    while True:
        line = proc.stdout.readline()
        if not line:
            sys.exit(f"jit mcp closed its output before answering request {id_}")
        message = json.loads(line)
        if message.get("id") == id_:
            if "error" in message:
                sys.exit(f"request {id_}: {message['error']}")
            return message["result"]


def call(proc, id_, tool, arguments):
    send(proc, {"jsonrpc": "2.0", "id": id_, "method": "tools/call",
                "params": {"name": tool, "arguments": arguments}})
    result = answer(proc, id_)
    if result.get("isError"):
        sys.exit(f"{tool}: {result['content'][0]['text']}")
    return result["structuredContent"]


startup = []
for _ in range(runs):
    began = time.perf_counter()
    proc = start()
    send(proc, INITIALIZE)
    info = answer(proc, 1)
    startup.append((time.perf_counter() - began) * 1000)
    assert info["serverInfo"]["name"] == "jit", info
    proc.stdin.close()
    proc.wait(timeout=30)

proc = start()
send(proc, INITIALIZE)
answer(proc, 1)
send(proc, {"jsonrpc": "2.0", "method": "notifications/initialized"})
request = []
next_id = 2
for _ in range(runs):
    began = time.perf_counter()
    asked = call(proc, next_id, "request_access",
                 {"role": role, "reason": "benchmark", "task": "time request_access"})
    request.append((time.perf_counter() - began) * 1000)
    assert asked["status"] == "granted", asked
    dropped = call(proc, next_id + 1, "drop_access", {"lease_id": asked["lease"]["id"]})
    assert dropped["lease"]["state"] == "revoked", dropped
    next_id += 2
proc.stdin.close()
if proc.wait(timeout=60) != 0:
    sys.exit(f"jit mcp exited {proc.returncode}")

json.dump({"startup_ms": startup, "request_ms": request}, open(out, "w"))
