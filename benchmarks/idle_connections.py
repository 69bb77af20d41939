#!/usr/bin/env python3
"""Opens N keep-alive connections to HOST:PORT, sends one GET /plaintext on each and reads its response, then holds them
all open and idle: prints "ready N" once every connection has had its response, and keeps them until killed.

Usage: idle_connections.py PORT N [HOST]
"""

import asyncio
import sys

REQUEST = b"GET /plaintext HTTP/1.1\r\nHost: localhost\r\n\r\n"


async def open_one(host, port, gate, held):
    async with gate:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(REQUEST)
        await writer.drain()
        headers = await reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in headers.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":")[1])
        await reader.readexactly(length)
        held.append((reader, writer))


async def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    gate = asyncio.Semaphore(256)
    held = []
    await asyncio.gather(*(open_one(host, port, gate, held) for _ in range(count)))
    print(f"ready {len(held)}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
