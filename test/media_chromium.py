#!/usr/bin/python3
"""Headless Chromium as a media peer for test/test_media_chromium.c.

Usage: media_chromium.py <chromium binary> <profile dir>

Chromium runs headless with fake media devices (its fake camera and
microphone, VP8/Opus), background networking disabled, loopback
candidates allowed and mDNS candidates off; this script drives its page
through the DevTools protocol. Line protocol on stdin/stdout:
  py -> C: "VP8 <b64> <key 0|1>"  frames encoded here with libvpx (PyAV),
                                  for the C side to send to Chromium
  py -> C: "SDP <b64>"            Chromium's offer (gathering complete,
                                  loopback candidates only)
  C -> py: "SDP <b64>"            the C side's answer
  py -> C: "STATS <json>"         every 500 ms: getStats() digest
  py -> C: "ERROR <text>"         Chromium or the page failed
The C side ends the session by closing stdin.
"""
import asyncio
import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

import av
import numpy
import websockets

PAGE_SETUP = r"""
(async () => {
  window.pc = new RTCPeerConnection({iceServers: []});
  const s = await navigator.mediaDevices.getUserMedia(
      {audio: true, video: {width: 320, height: 240}});
  for (const t of s.getTracks()) pc.addTrack(t, s);
  for (const [l, o, r] of [["RPC_RELIABLE", true, null],
                           ["RPC_SIGNAL", true, null],
                           ["STREAM_RELIABLE", true, null],
                           ["STREAM_LATENCY_FIRST", false, 3]])
    pc.createDataChannel(l, r === null ? {ordered: o}
                                       : {ordered: o, maxRetransmits: r});
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise(res => {
    if (pc.iceGatheringState === "complete") return res();
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") res();
    });
  });
  return pc.localDescription.sdp;
})()
"""

PAGE_STATS = r"""
(async () => {
  const o = {state: pc.connectionState};
  (await pc.getStats()).forEach(r => {
    if (r.type === "inbound-rtp")
      o["in_" + r.kind] = {packets: r.packetsReceived, lost: r.packetsLost,
        framesDecoded: r.framesDecoded, keyFramesDecoded: r.keyFramesDecoded,
        framesDropped: r.framesDropped, pli: r.pliCount, nack: r.nackCount,
        samples: r.totalSamplesReceived, decoder: r.decoderImplementation};
    if (r.type === "outbound-rtp")
      o["out_" + r.kind] = {packets: r.packetsSent, frames: r.framesEncoded};
  });
  return JSON.stringify(o);
})()
"""


def out(line):
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def vp8_frames(n):
    """n VP8 frames of a moving picture, keyframe every 30."""
    c = av.CodecContext.create("libvpx", "w")
    c.width, c.height, c.pix_fmt = 320, 240, "yuv420p"
    c.time_base = av.Fraction(1, 30) if hasattr(av, "Fraction") else None
    c.framerate = 30
    c.bit_rate = 300000
    c.gop_size = 30
    c.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    frames = []
    for i in range(n):
        img = numpy.zeros((240, 320, 3), numpy.uint8)
        img[:, :, 2] = (i * 4) % 255
        img[(i * 3) % 240, :, 1] = 255
        f = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
        f.pts = i
        for p in c.encode(f):
            frames.append((bytes(p), 1 if p.is_keyframe else 0))
    for p in c.encode(None):
        frames.append((bytes(p), 1 if p.is_keyframe else 0))
    return frames


def loopback_only(sdp):
    keep = []
    for line in sdp.splitlines():
        if line.startswith("a=candidate:") and " 127.0.0.1 " not in line:
            continue
        keep.append(line)
    return "\r\n".join(keep) + "\r\n"


class Page(BaseHTTPRequestHandler):
    """An empty page on http://127.0.0.1 (a secure context: getUserMedia
    exists there, not on about:blank)."""

    def do_GET(self):
        body = b"<!doctype html><title>actr media</title>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Cdp:
    def __init__(self, ws):
        self.ws = ws
        self.next = 0

    async def call(self, method, **params):
        self.next += 1
        mid = self.next
        await self.ws.send(json.dumps({"id": mid, "method": method, "params": params}))
        while True:
            msg = json.loads(await self.ws.recv())
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError(msg["error"])
                return msg["result"]

    async def evaluate(self, expr):
        r = await self.call("Runtime.evaluate", expression=expr,
                            awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(json.dumps(r["exceptionDetails"])[:400])
        return r["result"].get("value")


async def read_line(reader):
    line = await reader.readline()
    return line.decode().strip() if line else None


async def main(binary, profile):
    for data, key in vp8_frames(90):
        out("VP8 %s %d" % (base64.b64encode(data).decode(), key))
    httpd = HTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/" % httpd.server_address[1]
    port = free_port()
    args = [binary, "--headless=new", "--no-sandbox", "--disable-gpu",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--no-first-run", "--no-default-browser-check",
            "--allow-loopback-in-peer-connection",
            "--disable-features=WebRtcHideLocalIpsWithMdns",
            "--remote-debugging-address=127.0.0.1",
            "--remote-debugging-port=%d" % port,
            "--user-data-dir=" + profile, url]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        target = None
        end = time.time() + 20
        while time.time() < end and not target:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json" % port, timeout=1) as f:
                    for t in json.load(f):
                        if t.get("type") == "page":
                            target = t["webSocketDebuggerUrl"]
            except OSError:
                await asyncio.sleep(0.2)
        if not target:
            out("ERROR chromium did not start")
            return
        loop = asyncio.get_event_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        async with websockets.connect(target, max_size=None) as ws:
            cdp = Cdp(ws)
            try:
                # the first page may still be about:blank (not a secure
                # context): go to ours and wait for it
                await cdp.call("Page.navigate", url=url)
                for _ in range(100):
                    if await cdp.evaluate("location.href") == url and \
                            await cdp.evaluate("document.readyState") == "complete":
                        break
                    await asyncio.sleep(0.1)
                sdp = await cdp.evaluate(PAGE_SETUP)
            except RuntimeError as e:
                out("ERROR " + str(e).replace("\n", " "))
                return
            out("SDP " + base64.b64encode(loopback_only(sdp).encode()).decode())
            line = await read_line(reader)
            if not line or not line.startswith("SDP "):
                return
            answer = base64.b64decode(line[4:]).decode()
            try:
                await cdp.evaluate("pc.setRemoteDescription({type: 'answer', sdp: %s})"
                                   % json.dumps(answer))
            except RuntimeError as e:
                out("ERROR " + str(e).replace("\n", " "))
                return
            pending = asyncio.ensure_future(read_line(reader))
            while True:
                done, _ = await asyncio.wait([pending], timeout=0.5)
                if done:
                    if pending.result() is None:
                        break
                    pending = asyncio.ensure_future(read_line(reader))
                    continue
                out("STATS " + await cdp.evaluate(PAGE_STATS))
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(asyncio.wait_for(main(sys.argv[1], sys.argv[2]), timeout=60))
