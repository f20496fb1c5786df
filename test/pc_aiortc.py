#!/usr/bin/python3
"""aiortc peer for the interop tests (test/test_pc_aiortc.c).

Usage: pc_aiortc.py offer|answer

Line protocol on stdin/stdout (SDP base64-encoded so it fits one line):
  C -> py: "SDP <b64>"         the C side's offer or answer
  py -> C: "SDP <b64>"         our offer or answer (loopback candidates only)
  py -> C: "OPEN <label> <ordered 0|1> <maxRetransmits or -1>"  per channel
  py -> C: "DONE"              stdin closed, exiting
Every DataChannel message received is sent back unchanged on the same
channel (echo). When a channel opens, one greeting message is sent on it:
the actr 8-byte fragment header (msg_id 0, frag 0 of 1) + "hello <label>".

Loopback tricks (DESIGN.md): aioice leaves 127.0.0.1 out of its host
candidates, so address enumeration is overridden to offer only 127.0.0.1,
and no STUN server is configured (no network beyond loopback).
"""
import asyncio
import base64
import struct
import sys

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402

LANES = [
    ("RPC_RELIABLE", True, None),
    ("RPC_SIGNAL", True, None),
    ("STREAM_RELIABLE", True, None),
    ("STREAM_LATENCY_FIRST", False, 3),
]


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def loopback_only(sdp):
    keep = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:") and " 127.0.0.1 " not in line:
            continue
        keep.append(line)
    return "\r\n".join(keep) + "\r\n"


async def read_line(reader):
    line = await reader.readline()
    return line.decode().strip() if line else None


async def main(role):
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

    def attach(ch):
        def opened():
            out("OPEN %s %d %d" % (ch.label, 1 if ch.ordered else 0,
                                   -1 if ch.maxRetransmits is None else ch.maxRetransmits))
            ch.send(struct.pack(">IHH", 0, 0, 1) + ("hello " + ch.label).encode())

        @ch.on("message")
        def on_message(msg):
            ch.send(msg)

        if ch.readyState == "open":
            opened()
        else:
            ch.on("open", opened)

    @pc.on("datachannel")
    def on_dc(ch):
        attach(ch)

    if role == "offer":
        for label, ordered, rtx in LANES:
            ch = pc.createDataChannel(label, ordered=ordered, maxRetransmits=rtx)
            attach(ch)
        # A channel with a foreign label: the C answerer must ignore it.
        pc.createDataChannel("EXTRA")
        await pc.setLocalDescription(await pc.createOffer())
        out("SDP " + base64.b64encode(loopback_only(pc.localDescription.sdp).encode()).decode())
        line = await read_line(reader)
        if not line or not line.startswith("SDP "):
            return
        sdp = base64.b64decode(line[4:]).decode()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
    else:
        line = await read_line(reader)
        if not line or not line.startswith("SDP "):
            return
        sdp = base64.b64decode(line[4:]).decode()
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        out("SDP " + base64.b64encode(loopback_only(pc.localDescription.sdp).encode()).decode())

    # Serve until the C side closes stdin (bounded by the test's timeout).
    while await read_line(reader) is not None:
        pass
    await pc.close()
    out("DONE")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1]), timeout=30))
