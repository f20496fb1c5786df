#!/usr/bin/python3
"""aiortc media peer for test/test_media_aiortc.c.

Usage: media_aiortc.py

aiortc offers: an audio transceiver (sendrecv: its own Opus encoder sends
a tone, and it decodes what the C side sends), a video track (sendonly:
its own VP8 encoder) and the four actr DataChannels. Line protocol on
stdin/stdout (SDP base64-encoded):
  py -> C: "SDP <b64>"             our offer (loopback candidates only)
  C -> py: "SDP <b64>"             the C side's answer
  py -> C: "DECODED <n> <errors>"  audio frames from C decoded so far
  py -> C: "DONE"                  stdin closed, exiting
Decoding goes through aiortc's own receiver (libopus); a failed decode is
counted as an error.
"""
import asyncio
import base64
import fractions
import math
import sys

import aioice.ice

aioice.ice.get_host_addresses = lambda use_ipv4, use_ipv6: ["127.0.0.1"]

from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription  # noqa: E402
from aiortc.codecs import opus  # noqa: E402
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack  # noqa: E402
import av  # noqa: E402
import numpy  # noqa: E402

LANES = [
    ("RPC_RELIABLE", True, None),
    ("RPC_SIGNAL", True, None),
    ("STREAM_RELIABLE", True, None),
    ("STREAM_LATENCY_FIRST", False, 3),
]

stats = {"decoded": 0, "errors": 0}
_decode = opus.OpusDecoder.decode


def counting_decode(self, encoded_frame):
    try:
        frames = _decode(self, encoded_frame)
    except Exception:
        stats["errors"] += 1
        return []
    stats["decoded"] += len(frames)
    return frames


opus.OpusDecoder.decode = counting_decode


class Tone(AudioStreamTrack):
    """A 440 Hz tone (not silence: the encoder then makes real frames)."""

    async def recv(self):
        frame = await super().recv()
        n = frame.samples
        t = (numpy.arange(n) + frame.pts) / 48000.0
        pcm = (numpy.sin(2 * math.pi * 440 * t) * 8000).astype(numpy.int16)
        out = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
        out.sample_rate = 48000
        out.pts = frame.pts
        out.time_base = fractions.Fraction(1, 48000)
        return out


class Moving(VideoStreamTrack):
    """A 320x240 picture that changes every frame."""

    async def recv(self):
        pts, time_base = await self.next_timestamp()
        img = numpy.zeros((240, 320, 3), numpy.uint8)
        img[:, :, 1] = (pts // 3000) % 255
        img[(pts // 3000) % 240, :, 0] = 255
        frame = av.VideoFrame.from_ndarray(img, format="bgr24")
        frame.pts = pts
        frame.time_base = time_base
        return frame


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


async def consume(track):
    while True:
        try:
            await track.recv()
        except Exception:
            return


async def report():
    last = None
    while True:
        await asyncio.sleep(0.2)
        cur = (stats["decoded"], stats["errors"])
        if cur != last:
            out("DECODED %d %d" % cur)
            last = cur


async def main():
    loop = asyncio.get_event_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))

    @pc.on("track")
    def on_track(track):
        asyncio.ensure_future(consume(track))

    @pc.on("datachannel")
    def on_dc(ch):
        pass

    pc.addTransceiver(Tone(), direction="sendrecv")
    pc.addTrack(Moving())
    for label, ordered, rtx in LANES:
        pc.createDataChannel(label, ordered=ordered, maxRetransmits=rtx)
    await pc.setLocalDescription(await pc.createOffer())
    out("SDP " + base64.b64encode(loopback_only(pc.localDescription.sdp).encode()).decode())
    line = await read_line(reader)
    if not line or not line.startswith("SDP "):
        return
    sdp = base64.b64decode(line[4:]).decode()
    await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="answer"))
    rep = asyncio.ensure_future(report())
    while await read_line(reader) is not None:
        pass
    rep.cancel()
    await pc.close()
    out("DONE")


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(), timeout=40))
