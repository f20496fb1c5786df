#!/usr/bin/python3
"""aiortc peer for the stream interop test (test/test_stream_aiortc.c).

Usage: pc_aiortc_stream.py UPSTREAM_SCHEMA_TABLE

The DataChunk and MetadataEntry classes are generated here, at run time,
from the Rust actr system's schema as the project records it
(test/interop/upstream-schema.txt, written by scripts/upstream-schema.sh
from github.com/Actrium/actr core/protocol/proto/): a .proto is rebuilt
from those facts and compiled by protoc --python_out. Nothing of the C
side's proto/ is used.

Line protocol on stdin/stdout (the C side offers, we answer):
  C -> py: "SDP <b64>"      the C offer
  py -> C: "SDP <b64>"      our answer (loopback candidates only)
  py -> C: "CHUNK <label> <stream_id> <sequence> <len> <sum> <meta> <ts>"
            a DataChunk decoded from a STREAM_* channel (fragments of the
            8-byte actr header reassembled): payload length and byte sum
            mod 2^32, metadata "k=v,..." ("-" none), timestamp_ms ("-")
  py -> C: "BAD <label> <why>" a message that was not a DataChunk
Each chunk is answered on the same channel with a DataChunk of our own
(fragmented as PROTOCOL.md 7 says when over 65527 bytes): stream_id
"back-" + stream_id, sequence + 1000, the payload reversed, metadata
via=aiortc, timestamp_ms + 1.
"""
import asyncio
import base64
import importlib
import os
import struct
import subprocess
import sys
import tempfile

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402

MAX_FRAG = 65527


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def upstream_classes(table):
    """Build actr.DataChunk and actr.MetadataEntry from the schema table."""
    want = ("actr.MetadataEntry", "actr.DataChunk")
    fields = {m: [] for m in want}
    with open(table) as f:
        for line in f:
            p = line.split()
            if len(p) == 6 and p[0] == "field" and p[1] in want:
                fields[p[1]].append((int(p[2]), p[3], p[4], p[5]))
    src = ['syntax = "proto2";', "package actr;"]
    for m in want:
        if not fields[m]:
            raise SystemExit("no %s in %s" % (m, table))
        src.append("message %s {" % m.split(".")[1])
        for num, name, typ, label in sorted(fields[m]):
            if typ.startswith("message:"):
                typ = typ.split(":", 1)[1].split(".", 1)[1]
            src.append("  %s %s %s = %d;" % (label, typ, name, num))
        src.append("}")
    d = tempfile.mkdtemp()
    with open(os.path.join(d, "upstream_chunk.proto"), "w") as f:
        f.write("\n".join(src) + "\n")
    subprocess.check_call(["protoc", "-I" + d, "--python_out=" + d,
                           os.path.join(d, "upstream_chunk.proto")])
    sys.path.insert(0, d)
    return importlib.import_module("upstream_chunk_pb2")


async def read_line(reader):
    line = await reader.readline()
    return line.decode().strip() if line else None


def frame(msg_id, data):
    """The actr fragment header (PROTOCOL.md 7) over data."""
    n = max(1, (len(data) + MAX_FRAG - 1) // MAX_FRAG)
    return [struct.pack(">IHH", msg_id & 0xffffffff, i, n) +
            data[i * MAX_FRAG:(i + 1) * MAX_FRAG] for i in range(n)]


async def main(table):
    pb = upstream_classes(table)
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

    def attach(ch):
        if not ch.label.startswith("STREAM_"):
            return
        partial = {}
        next_id = [0]

        @ch.on("message")
        def on_message(msg):
            if len(msg) < 8:
                out("BAD %s short" % ch.label)
                return
            mid, idx, total = struct.unpack(">IHH", msg[:8])
            parts = partial.setdefault(mid, {})
            parts[idx] = msg[8:]
            if len(parts) < total:
                return
            del partial[mid]
            data = b"".join(parts[i] for i in range(total))
            c = pb.DataChunk()
            try:
                c.ParseFromString(data)
            except Exception as e:  # noqa: BLE001
                out("BAD %s %s" % (ch.label, type(e).__name__))
                return
            meta = ",".join("%s=%s" % (m.key, m.value) for m in c.metadata) or "-"
            ts = str(c.timestamp_ms) if c.HasField("timestamp_ms") else "-"
            out("CHUNK %s %s %d %d %d %s %s" % (
                ch.label, c.stream_id, c.sequence, len(c.payload),
                sum(c.payload) & 0xffffffff, meta, ts))
            r = pb.DataChunk()
            r.stream_id = "back-" + c.stream_id
            r.sequence = c.sequence + 1000
            r.payload = bytes(reversed(c.payload))
            e = r.metadata.add()
            e.key = "via"
            e.value = "aiortc"
            if c.HasField("timestamp_ms"):
                r.timestamp_ms = c.timestamp_ms + 1
            for f in frame(next_id[0], r.SerializeToString()):
                ch.send(f)
            next_id[0] += 1

    @pc.on("datachannel")
    def on_dc(ch):
        attach(ch)

    line = await read_line(reader)
    if not line or not line.startswith("SDP "):
        return
    sdp = base64.b64decode(line[4:]).decode()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    answer = "\r\n".join(l for l in pc.localDescription.sdp.splitlines()
                         if not l.startswith("a=candidate:") or " 127.0.0.1 " in l)
    out("SDP " + base64.b64encode((answer + "\r\n").encode()).decode())
    while await read_line(reader) is not None:
        pass
    await pc.close()
    out("DONE")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=40))
