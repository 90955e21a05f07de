#!/usr/bin/env python3
"""A TCP relay on loopback, for tests that take a server away and back.

    relay.py UPSTREAM PORT_FILE

UPSTREAM is a port on 127.0.0.1, or @FILE: a file naming the port, read again
for each connection (a server restarted on another port). The relay listens
on a free port and writes it to PORT_FILE (atomically) once it listens.
A connection the upstream refuses is closed at once.

Signals: SIGUSR1 cuts every connection and stops listening (a partition);
SIGUSR2 listens again, on the same port.
"""
import asyncio
import os
import signal
import sys

upstream, port_file = sys.argv[1], sys.argv[2]
conns, state = set(), {}


def upstream_port():
    if upstream.startswith("@"):
        with open(upstream[1:]) as f:
            return int(f.read())
    return int(upstream)


async def pipe(r, w):
    try:
        while data := await r.read(65536):
            w.write(data)
            await w.drain()
    except Exception:
        pass
    w.close()


async def serve(r, w):
    try:
        ur, uw = await asyncio.open_connection("127.0.0.1", upstream_port())
    except (OSError, ValueError):
        w.close()
        return
    conns.update((w, uw))
    await asyncio.gather(pipe(r, uw), pipe(ur, w))
    conns.difference_update((w, uw))


async def listen():
    state["srv"] = await asyncio.start_server(
        serve, "127.0.0.1", state.get("port", 0), reuse_address=True
    )
    state["port"] = state["srv"].sockets[0].getsockname()[1]


def cut():
    state["srv"].close()
    for w in list(conns):
        w.transport.abort()


async def main():
    await listen()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(state["port"]))
    os.rename(port_file + ".tmp", port_file)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGUSR1, cut)
    loop.add_signal_handler(signal.SIGUSR2, lambda: asyncio.ensure_future(listen()))
    await asyncio.Event().wait()


asyncio.run(main())
