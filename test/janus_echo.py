#!/usr/bin/python3
"""Janus echotest client for the ICE lite interop test (test/test_pc_janus.c).

Usage: janus_echo.py <janus-http-url>   (e.g. http://127.0.0.1:8088/janus)

Talks to Janus's HTTP API (janus.transport.http): creates a session,
attaches janus.plugin.echotest, hands it the C side's offer (data channels
only) and returns Janus's answer. Janus does the media and the echo itself;
this script only carries SDP. Line protocol on stdin/stdout (SDP base64 so
it fits one line):
  C -> py: "SDP <b64>"   the C side's offer
  py -> C: "SDP <b64>"   Janus's answer
  py -> C: "ERR <text>"  something failed (then exit 1)
Every HTTP request has a timeout; the script keeps the session alive with
keepalives until stdin closes, then destroys it.
"""
import base64
import json
import random
import select
import sys
import time
import urllib.request


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def tx():
    return "%016x" % random.getrandbits(64)


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def get(url):
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.loads(r.read())


def main():
    base = sys.argv[1]
    r = None
    for _ in range(100):  # Janus may still be starting: 10 s at most
        try:
            r = post(base, {"janus": "create", "transaction": tx()})
            break
        except OSError:
            time.sleep(0.1)
    if not r or r.get("janus") != "success":
        out("ERR create: %r" % (r,))
        return 1
    sess = "%s/%d" % (base, r["data"]["id"])
    r = post(sess, {"janus": "attach", "plugin": "janus.plugin.echotest",
                    "transaction": tx()})
    if r.get("janus") != "success":
        out("ERR attach: %r" % (r,))
        return 1
    handle = "%s/%d" % (sess, r["data"]["id"])
    line = sys.stdin.readline().split()
    if len(line) != 2 or line[0] != "SDP":
        out("ERR expected SDP")
        return 1
    offer = base64.b64decode(line[1]).decode()
    r = post(handle, {"janus": "message", "transaction": tx(),
                      "body": {"audio": False, "video": False, "data": True},
                      "jsep": {"type": "offer", "sdp": offer}})
    if r.get("janus") not in ("ack", "event"):
        out("ERR message: %r" % (r,))
        return 1
    answer = (r.get("jsep") or {}).get("sdp")
    deadline = time.time() + 10
    while not answer and time.time() < deadline:
        ev = get("%s?maxev=1&rid=%d" % (sess, int(time.time() * 1000)))
        for e in ev if isinstance(ev, list) else [ev]:
            if e.get("janus") == "event" and e.get("jsep"):
                answer = e["jsep"]["sdp"]
    if not answer:
        out("ERR no answer from Janus")
        return 1
    out("SDP " + base64.b64encode(answer.encode()).decode())
    # Keep the session alive until the C side is done (bounded by it).
    while True:
        rd, _, _ = select.select([sys.stdin], [], [], 10)
        if rd and not sys.stdin.readline():
            break
        if not rd:
            post(sess, {"janus": "keepalive", "transaction": tx()})
    try:
        post(sess, {"janus": "destroy", "transaction": tx()})
    except OSError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
