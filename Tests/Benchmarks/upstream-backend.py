#!/usr/bin/env python3
"""A minimal SSE backend for Tests/Benchmarks/upstream.sh: GET (any path) opens an event stream; POST (any path) with a
form body broadcasts its `data` field as one event to every open stream. asyncio, standard library only."""
import asyncio, sys, urllib.parse

streams = set()
counter = 0

async def handle(reader, writer):
    global counter
    try:
        while True:  # keep-alive: one request after another on this connection
            head = await reader.readuntil(b"\r\n\r\n")
            method = head.split(b" ", 1)[0]
            if method == b"GET":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n: open\n\n")
                await writer.drain()
                streams.add(writer)
                await reader.read()  # until the gateway closes the request
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length)
            data = urllib.parse.parse_qs(body.decode()).get("data", [""])[0]
            counter += 1
            event = f"id: {counter}\ndata: {data}\n\n".encode()
            for stream in list(streams):
                stream.write(event)
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        streams.discard(writer)
        writer.close()

async def main(port):
    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    async with server:
        await server.serve_forever()

asyncio.run(main(int(sys.argv[1])))
