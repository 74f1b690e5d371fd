"""A TCP relay that stands in for a bad link, since this kernel has no netem: each route
listens on a port and relays to the target's port, with one fault.

    python -m tests.tcp_relay --listen ADDR --target HOST ROUTE...
    ROUTE: LISTEN_PORT:TARGET_PORT:FAULT, FAULT one of
      delay=MS   every chunk from the client reaches the server MS later (one way), in order
      reset=P    with probability P, an inference request (a chunk that starts an HTTP POST)
                 takes the link down for OUTAGE_MS: every request meanwhile, this one first,
                 resets its connection (both ways) before it reaches the server
      stall=P    with probability P, an inference request's connection goes silent for good:
                 nothing more is relayed either way, nor closed, until the client gives up

TCP never loses bytes; what a lossy link does to an application is delay it, reset it or
stall it. A reset takes the link down for a moment rather than one connection, since a
client may (as libcurl does) send a request once more, on a new connection, when a kept one
fails before any answer: a single reset is then no failure at all. Only the users'
inference connections fail: the statistics polls (GETs on connections of their own) pass,
so that the sweep sees failed requests, not a dead server. Prints "ready" once every route
listens."""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import struct
from dataclasses import dataclass

OUTAGE_MS = 100


@dataclass
class Route:
    listen_port: int
    target_port: int
    delay_s: float = 0.0
    reset_p: float = 0.0
    stall_p: float = 0.0

    @classmethod
    def parse(cls, text: str) -> Route:
        listen, target, fault = text.split(":")
        name, value = fault.split("=")
        route = cls(int(listen), int(target))
        if name == "delay":
            route.delay_s = float(value) / 1000
        elif name in ("reset", "stall"):
            setattr(route, f"{name}_p", float(value))
        else:
            raise ValueError(f"unknown fault {name!r}")
        return route


class Connection:
    """One client connection and its upstream one."""

    def __init__(self, client: asyncio.StreamWriter, upstream: asyncio.StreamWriter) -> None:
        self.writers = (client, upstream)
        self.stalled = False

    def reset(self) -> None:
        """Close both sockets at once with an RST (linger 0), as a dropped link's peer or
        a middlebox does."""
        for writer in self.writers:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()


class Relay:
    def __init__(self, target: str, route: Route, seed: int) -> None:
        self.target, self.route = target, route
        self.random = random.Random(seed)
        self.down_until = 0.0  # the link's outage (reset=P) lasts until then (loop time)

    async def serve(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter):
        try:
            up_r, up_w = await asyncio.open_connection(self.target, self.route.target_port)
        except OSError:
            client_w.transport.abort()
            return
        conn = Connection(client_w, up_w)
        await asyncio.gather(
            self.pipe(client_r, up_w, conn, self.route.delay_s, upstream=True),
            self.pipe(up_r, client_w, conn, 0.0, upstream=False),
        )

    def fault(self, data: bytes, conn: Connection) -> bool:
        """Whether this chunk from the client ends its connection (reset or stall)."""
        if not data.startswith(b"POST "):
            return False
        now = asyncio.get_running_loop().time()
        if self.random.random() < self.route.reset_p:
            self.down_until = max(self.down_until, now + OUTAGE_MS / 1000)
        if now < self.down_until:
            conn.reset()
            return True
        if self.random.random() < self.route.stall_p:
            conn.stalled = True
            return True
        return False

    async def pipe(self, reader, writer, conn: Connection, delay_s: float, upstream: bool):
        """Relay one direction; each chunk leaves `delay_s` after it came, in order, while
        later chunks keep coming (a delayed link, not a slow one)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def send() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            while data := await reader.read(65536):
                if conn.stalled:
                    continue  # swallowed: the client waits, then gives up and closes
                if upstream and self.fault(data, conn):
                    if not conn.stalled:  # reset: both sockets are gone already
                        sender.cancel()
                        return
                    continue
                queue.put_nowait((loop.time() + delay_s, data))
            queue.put_nowait(None)
            await sender
        except (OSError, RuntimeError):
            sender.cancel()
        # Either side closing ends the relayed connection: a stalled one at once, else once
        # what was relayed is flushed (close() sends what is buffered, then a FIN).
        for w in conn.writers:
            if conn.stalled:
                w.transport.abort()
            else:
                w.close()


async def main_async(args: argparse.Namespace) -> None:
    servers = []
    for i, text in enumerate(args.routes):
        relay = Relay(args.target, Route.parse(text), seed=args.seed + i)
        port = relay.route.listen_port
        servers.append(await asyncio.start_server(relay.serve, args.listen, port))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--listen", required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("routes", nargs="+", metavar="LISTEN_PORT:TARGET_PORT:FAULT")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
