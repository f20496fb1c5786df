#!/usr/bin/env python3
"""Write the seed corpora of the fuzz targets to test/fuzz/corpus/<target>/.

A few valid inputs per target, in each target's input format (see the
comment at the top of test/fuzz/<target>.c). Protobuf messages are
encoded by hand here (field numbers from proto/*.proto), so the script
needs nothing beyond Python 3. `make fuzz` copies the seeds into the
working corpus; rerun this script after changing an input format.
"""
import os
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "test", "fuzz", "corpus")


# ---- protobuf encoding -----------------------------------------------------

def varint(v):
    if v < 0:
        v += 1 << 64
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def fv(num, v):
    """A varint field."""
    return varint(num << 3) + varint(v)


def fb(num, data):
    """A length-delimited field (bytes, string or message)."""
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


# actr.proto
def actr_type(mfr, name, ver):
    return fb(1, mfr) + fb(2, name) + fb(3, ver)


def rpc_env(route, rid, direction=1, timeout=1000, payload=None, error=None):
    m = fb(1, route)
    if payload is not None:
        m += fb(2, payload)
    if error is not None:
        m += fb(3, fv(1, error[0]) + fb(2, error[1]))
    if direction is not None:
        m += fv(4, direction)
    m += fb(102, rid) + fv(104, timeout)
    return m


# ---- per target ---------------------------------------------------------------

def write(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def frag_hdr(msg_id, index, total):
    return struct.pack(">IHH", msg_id, index, total)


def seeds_frag():
    # op 0 raw: len u8, bytes
    one = frag_hdr(7, 0, 1) + b"hello"
    write("fuzz_frag", "raw_single", bytes([0, len(one)]) + one)
    two = [frag_hdr(9, i, 2) + b"ab" for i in range(2)]
    write("fuzz_frag", "raw_two",
          b"".join(bytes([0, len(f)]) + f for f in two))
    # op 1 frag: slot, total, index, len (x64 bytes)
    write("fuzz_frag", "interleaved",
          bytes([1, 0, 2, 0, 1, 1, 1, 2, 0, 1, 1, 0, 2, 1, 1, 1, 1, 2, 1, 1]))
    write("fuzz_frag", "duplicate", bytes([1, 2, 3, 1, 2, 1, 2, 3, 1, 2]))
    write("fuzz_frag", "conflicting_total",
          bytes([1, 3, 3, 0, 1, 1, 3, 4, 1, 1]))
    # op 2 clock: a partial goes stale
    write("fuzz_frag", "stale", bytes([1, 4, 3, 0, 1, 2, 0xff, 1, 4, 3, 1, 1]))
    # memory bound: 9 partials of 8 slots... and big fragments
    write("fuzz_frag", "evict",
          b"".join(bytes([1, s, 15, 0, 0xff]) for s in range(8)))
    # op 3 split: len u16, max_data u8 (x8+1), order u8
    write("fuzz_frag", "split_order", bytes([3, 0x01, 0x00, 8, 0]))
    write("fuzz_frag", "split_reverse", bytes([3, 0x02, 0x00, 4, 1]))
    write("fuzz_frag", "split_interleave", bytes([3, 0x00, 0x80, 2, 2]))
    write("fuzz_frag", "split_twice", bytes([3, 0x00, 0x10, 9, 3]))


def seeds_dcep():
    def open_msg(ctype, prio, rel, label, proto):
        return (bytes([0x03, ctype]) + struct.pack(">HIHH", prio, rel,
                                                   len(label), len(proto))
                + label + proto)
    write("fuzz_dcep", "open_reliable",
          open_msg(0x00, 256, 0, b"RPC_RELIABLE", b""))
    write("fuzz_dcep", "open_rexmit",
          open_msg(0x81, 128, 3, b"RPC_SIGNAL", b"actr"))
    write("fuzz_dcep", "open_timed", open_msg(0x02, 512, 1500, b"", b"p"))
    write("fuzz_dcep", "ack", b"\x02")


def seeds_udp():
    dtls = bytes([22, 0xfe, 0xfd]) + bytes(10) + b"\x00\x04abcd"
    # flags: bit 4 source is the peer
    write("fuzz_udp", "from_peer_v4", bytes([0x10]) + dtls)
    write("fuzz_udp", "from_peer_v6", bytes([0x11]) + dtls)
    # one UDP_GRO control, segment 5, from the peer
    write("fuzz_udp", "gro_run",
          bytes([0x14, 0]) + struct.pack(">i", 5) + dtls * 3)
    # another source (port changed), truncated
    write("fuzz_udp", "foreign",
          bytes([0x00, 16, 0, 0, 0, 1]) + bytes(12) + dtls)
    write("fuzz_udp", "truncated", bytes([0x12]) + dtls)
    # free the path at the second datagram of a GRO run
    write("fuzz_udp", "free_in_cb",
          bytes([0x34, 0]) + struct.pack(">i", 4) + bytes([1]) + dtls)


def seeds_node():
    def rec(ctl, data):
        return bytes([ctl]) + struct.pack(">H", len(data)) + data
    echo = rpc_env("t.T.Echo", "r1", payload=b"hi")
    write("fuzz_node", "echo", rec(0, echo))
    # the same request again (answered from the cache), another caller
    write("fuzz_node", "echo_repeat",
          rec(0, echo) + rec(0x10, b"") + rec(2, echo))
    write("fuzz_node", "denied", rec(1, echo))
    write("fuzz_node", "typed",
          rec(0, rpc_env("echo.EchoService.Echo", "r2",
                         payload=fb(1, "x"))))
    write("fuzz_node", "tell_signal",
          rec(4, rpc_env("t.T.Sig", "r3", direction=3, timeout=0,
                         payload=b"s")))
    # kept: a repeat while in flight, then the reply
    keep = rpc_env("t.T.Keep", "r4")
    write("fuzz_node", "keep", rec(0, keep) + rec(0x10, b"") +
          rec(0x40, rpc_env("t.T.Fail", "r5", payload=b"\x07")))
    # outbound call answered, then failed
    write("fuzz_node", "forward",
          rec(0, rpc_env("t.T.Fwd", "r6", payload=b"f")) +
          rec(0x20, b"answer") +
          rec(0, rpc_env("t.T.Fwd", "r7", payload=b"g")) +
          rec(0x30, b"\x05"))
    write("fuzz_node", "late_response",
          rec(0, rpc_env("t.T.Echo", "0000000000000001", direction=2,
                         timeout=0, error=(3, "no"))))
    write("fuzz_node", "bad",
          rec(0, rpc_env("t.T.Echo", "r8", direction=None)) +
          rec(0, rpc_env("t.T.Echo", "r9", timeout=0)) +
          rec(3, echo) + rec(0, rpc_env("t.T.None", "r10")) +
          rec(0x80, rpc_env("t.T.Echo", "r11")))


def f32(num, v):
    """A float field (fixed32)."""
    return varint(num << 3 | 5) + struct.pack("<f", v)


def actr_id(realm, serial, mfr, name, ver):
    return fb(1, fv(1, realm)) + fv(2, serial) + fb(3, actr_type(mfr, name, ver))


def seeds_signal():
    # records: op u8, len u16, bytes; actors A = 1@101/acme:a:1.0.0,
    # B = 2@101/acme:b:1.0.0 and C = 3@101/acme:b:1.0.0 (serials as the
    # store hands them out; the ping names C sticky)
    def rec(op, data=b""):
        if isinstance(data, str):
            data = data.encode()
        return bytes([op]) + struct.pack(">H", len(data)) + data
    A = actr_id(101, 1, "acme", "a", "1.0.0")
    B = actr_id(101, 2, "acme", "b", "1.0.0")
    tb = actr_type("acme", "b", "1.0.0")
    # a2s sub-selectors: the oneof members by field number: 0 unregister,
    # 1 ping, 2 discovery, 3 route, 4 spec, 5 signing key, 6 subscribe,
    # 7 unsubscribe, 8 error
    ping = fv(1, 1) + f32(2, 0.5) + f32(3, 0.0) + \
        fb(4, "3@101/acme:b:1.0.0")
    write("fuzz_signal", "ping", rec(0x11, ping) + rec(0x19, ping))
    write("fuzz_signal", "discovery",
          rec(0x29) + rec(0x21, fb(1, "acme") + fv(2, 1)))
    route = fb(1, tb) + fb(2, fv(1, 2) + fv(2, 0) + fv(2, 1) + fv(2, 4)) + \
        fb(4, "fp")
    write("fuzz_signal", "route", rec(0x31, route))
    write("fuzz_signal", "spec_key",
          rec(0x41, fb(1, "b")) + rec(0x51, fv(1, 1)) + rec(0x51, fv(1, 9)))
    write("fuzz_signal", "subscribe",
          rec(0x61, fb(1, tb)) + rec(0x1e) + rec(0x16) + rec(0x71, fb(1, tb)))
    write("fuzz_signal", "unregister",
          rec(0x01, fb(1, A) + fb(2, "bye")) + rec(0x16))
    write("fuzz_signal", "error", rec(0x81, fv(1, 5) + fb(2, "x")))
    # relay sub-selectors: 0 ice candidate, 1 sdp, 2 role negotiation,
    # 3 role assignment, 4 ice restart; bit 7 (with bit 4: to itself)
    write("fuzz_signal", "relay",
          rec(0x22, fb(1, A) + fb(2, B) + fv(3, 101)) +
          rec(0x02, fb(1, "candidate:1 1 udp 1 127.0.0.1 5000 typ host")) +
          rec(0x1a, fv(1, 1) + fb(2, "v=0")) +
          rec(0x32, fv(1, 1)) + rec(0x42, fb(1, "restart")) +
          rec(0x92, fv(1, 1) + fb(2, "v=0")) + rec(0x82, fb(1, "c")))
    bad = fv(1, 2) + fb(2, "e1") + fb(11, fb(1, A) + fb(2, fv(1, 1) +
                                                  fb(2, b"c") + fb(3, b"s"))
                                     + fb(4, ping))
    write("fuzz_signal", "raw",
          rec(0, bad) + rec(0, b"\xff\xff") + rec(8, fv(1, 2) + fb(2, "e2")))
    reg = fb(1, actr_type("acme", "c", "1.0.0")) + fb(2, fv(1, 101)) + \
        fv(14, 2)
    reg_open = fb(1, actr_type("acme", "d", "1.0.0")) + fb(2, fv(1, 102)) + \
        fb(5, "Svc:fp") + fv(14, 2)
    reg_pkg = fb(1, actr_type("acme", "e", "1.0.0")) + fb(2, fv(1, 102)) + \
        fb(10, b"manifest") + fb(11, bytes(64))
    write("fuzz_signal", "http",
          rec(0x0b, reg) + rec(0x03, reg) + rec(0x03, reg_open) +
          rec(0x03, reg_pkg) + rec(0x23, fb(1, A) + fb(2, b"token")) +
          rec(0x33) + rec(0xbb) + rec(0x73))
    write("fuzz_signal", "renew", rec(0x04) + rec(0x1c, b"wrong"))
    write("fuzz_signal", "clock",
          rec(0x05, b"\x00\x1e") + rec(0x11, ping) +
          rec(0x05, b"\x0e\x10") + rec(0x11, ping))
    write("fuzz_signal", "conn", rec(0x06) + rec(0x16) + rec(0x16))
    write("fuzz_signal", "query",
          rec(0x07, "actor_id=1@101/acme:a:1.0.0&key_id=1&claims=AAAA"
                    "&signature=BBBB&webrtc_role=answer"))


def seeds_stream():
    def chunk(stream, seq, payload=b"", meta=(), ts=None):
        m = fb(1, stream.encode()) + fv(2, seq) + fb(3, payload)
        for k, v in meta:
            m += fb(4, fb(1, k.encode()) + fb(2, v.encode()))
        if ts is not None:
            m += fv(5, ts)
        return m

    def raw(ctl, data):
        return bytes([ctl | 8, len(data) >> 8, len(data) & 0xff]) + data

    # built records: latency-first on "a" from two senders, out of order
    write("fuzz_stream", "latest_first",
          bytes([0x01, 5, 0x01, 3, 0x03, 1, 0x01, 9, 0x01, 7]))
    write("fuzz_stream", "unregistered", bytes([0x21, 1, 0x30, 2]))
    write("fuzz_stream", "flip_b", bytes([0x01, 7, 0x11, 1, 0x01, 15,
                                          0x11, 2]))
    write("fuzz_stream", "raw_full",
          raw(1, chunk("a", 4, b"xy", [("k", "v")], 1733400000000)) +
          raw(0, chunk("b", 2**64 - 1, b"")))
    write("fuzz_stream", "raw_broken",
          raw(0, chunk("a", 1)[:-1]) + raw(1, b"\x12\x01") +
          raw(0, fv(2, 3) + fb(3, b"")))

def seeds_wslane():
    # a lane frame (payload_type u8 | length u32 BE | data); the same bytes
    # are also split (first byte) into the two identity header values
    import base64
    env = rpc_env("echo.EchoService.Echo", "1")
    write("fuzz_wslane", "rpc", bytes([0]) + struct.pack(">I", len(env)) + env)
    write("fuzz_wslane", "signal", bytes([1, 0, 0, 0, 0]))
    write("fuzz_wslane", "badtype", bytes([9, 0, 0, 0, 1, 0]))
    write("fuzz_wslane", "short", bytes([0, 0, 0, 0, 9, 1]))
    A = actr_id(101, 1, "acme", "a", "1.0.0")
    cred = fv(1, 1) + fb(2, fv(1, 101) + fb(2, "1@101/acme:a:1.0.0") +
                        fv(3, 1 << 40)) + fb(3, bytes(64))
    hexid = A.hex().encode()
    write("fuzz_wslane", "headers",
          bytes([len(hexid) + 1]) + hexid + base64.b64encode(cred))


def seeds_metrics():
    # NUL-separated: method, path, query, authorization, route keys
    tok = "Bearer fuzz-admin-token-0001"

    def req(*fields):
        return b"\0".join(f.encode() if isinstance(f, str) else f
                           for f in fields)
    write("fuzz_metrics", "redrive_all",
          req("POST", "/admin/dlq/redrive", "id=all", tok))
    write("fuzz_metrics", "purge_one",
          req("POST", "/admin/dlq/purge", "id=7&category=decode", tok))
    write("fuzz_metrics", "wrong_token",
          req("POST", "/admin/dlq/redrive", "id=all", tok + "x"))
    write("fuzz_metrics", "no_auth", req("GET", "/admin/dlq/purge", "id=1"))
    write("fuzz_metrics", "bad_id",
          req("POST", "/admin/dlq/redrive", "id=-1&id=2", tok))
    write("fuzz_metrics", "routes",
          req("GET", "/metrics", "", "", "echo.EchoService.Echo",
              'we"ird\\ro\nute', "x" * 600))


def main():
    which = sys.argv[1:] or ["frag", "dcep", "udp", "node", "signal",
                             "stream", "wslane", "metrics"]
    for w in which:
        globals()["seeds_" + w]()


if __name__ == "__main__":
    main()
