#!/usr/bin/python3
"""Third-party WebSocket peer for the interop tests (python3-websockets).

Run with Debian's interpreter (/usr/bin/python3), which owns
python3-websockets.

  ws_peer.py client URL [CAFILE]   drive our echo server, exit 0 on success
  ws_peer.py server [CERT KEY]     echo server; prints its port, stops when
                                   stdin closes
"""
import asyncio
import os
import ssl
import sys

import websockets


def fail(msg):
    print("FAIL " + msg, flush=True)
    sys.exit(1)


def client_ssl(url, cafile):
    if not url.startswith("wss:"):
        return None
    return ssl.create_default_context(cafile=cafile)


async def client(url, cafile):
    ctx = client_ssl(url, cafile)
    async with websockets.connect(url, ssl=ctx, max_size=2 ** 21) as ws:
        await ws.send("hello \u00e9\u20ac")
        if await ws.recv() != "hello \u00e9\u20ac":
            fail("text echo")
        await ws.send(b"\x00\x01binary\xff")
        if await ws.recv() != b"\x00\x01binary\xff":
            fail("binary echo")
        # Fragmented text (a multi-byte character split across frames).
        await ws.send(["frag", "men", "ted \u20ac"])
        got = await ws.recv()
        if got != "fragmented \u20ac":
            fail("fragmented text echo: %r" % got)
        parts = [b"a" * 1000, b"b" * 70000, b"c"]
        await ws.send(parts)
        if await ws.recv() != b"".join(parts):
            fail("fragmented binary echo")
        big = os.urandom(500000)
        await ws.send(big)
        if await ws.recv() != big:
            fail("500 kB echo")
        waiter = await ws.ping(b"ping-data")
        await asyncio.wait_for(waiter, 5)
        for i in range(100):
            await ws.send(b"m%d" % i)
        for i in range(100):
            if await ws.recv() != b"m%d" % i:
                fail("ordered echo %d" % i)
        await ws.close(code=4000, reason="bye")
        if ws.close_code != 4000:
            fail("close code echoed: %r" % ws.close_code)

    # Our server closes with the code we ask for.
    async with websockets.connect(url, ssl=ctx) as ws:
        await ws.send("close:4001")
        try:
            await asyncio.wait_for(ws.recv(), 5)
            fail("expected a close")
        except websockets.ConnectionClosed:
            pass
        if ws.close_code != 4001 or ws.close_reason != "asked":
            fail("server close: %r %r" % (ws.close_code, ws.close_reason))

    # A message over the server's max_message: close 1009.
    async with websockets.connect(url, ssl=ctx, max_size=2 ** 22) as ws:
        await ws.send(b"x" * (2 * 1024 * 1024))
        try:
            await asyncio.wait_for(ws.recv(), 5)
            fail("expected 1009")
        except websockets.ConnectionClosed:
            pass
        if ws.close_code != 1009:
            fail("too big: %r" % ws.close_code)

    # The credential is checked before the upgrade: 401.
    bad = url.replace("token=good", "token=bad")
    try:
        async with websockets.connect(bad, ssl=ctx):
            fail("upgrade with a bad token succeeded")
    except websockets.InvalidStatusCode as e:
        if e.status_code != 401:
            fail("bad token status %d" % e.status_code)
    print("OK", flush=True)


async def echo(ws, *unused):
    try:
        await echo_loop(ws)
    except websockets.ConnectionClosed:
        pass  # a close code other than 1000/1001 ends the loop this way


async def echo_loop(ws):
    async for msg in ws:
        if isinstance(msg, str) and msg.startswith("close:"):
            await ws.close(code=int(msg[6:]), reason="asked")
            return
        if msg == "frag":
            await ws.send(["fr", "ag", "ged \u20ac"])
            continue
        if msg == "ping-me":
            await ws.ping(b"srv")
            await ws.send("pinged")
            continue
        await ws.send(msg)


async def server(cert, key):
    ctx = None
    if cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
    stop = asyncio.get_running_loop().create_future()
    loop = asyncio.get_running_loop()

    def on_stdin():
        if not os.read(0, 4096) and not stop.done():
            stop.set_result(None)

    loop.add_reader(0, on_stdin)
    async with websockets.serve(echo, "127.0.0.1", 0, ssl=ctx,
                                max_size=2 ** 21) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        print(port, flush=True)
        await asyncio.wait_for(stop, 60)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "client":
        asyncio.run(client(sys.argv[2], sys.argv[3] if len(sys.argv) > 3
                           else None))
    elif len(sys.argv) >= 2 and sys.argv[1] == "server":
        asyncio.run(server(sys.argv[2] if len(sys.argv) > 3 else None,
                           sys.argv[3] if len(sys.argv) > 3 else None))
    else:
        print(__doc__)
        sys.exit(2)


if __name__ == "__main__":
    main()
