#!/usr/bin/env python3
"""A TCP forwarder standing in for a virtual IP or a DNS name that moves at fail-over (the disaster-recovery drills).

Usage: tcp_switch.py LISTEN_PORT TARGET_FILE
Listens on 127.0.0.1:LISTEN_PORT and forwards each new connection to 127.0.0.1:<the port in TARGET_FILE>, read at
every connection. Writing another port into TARGET_FILE is the fail-over: new connections go there, and connections
to the old target are closed (as they would be when a dead server's address moves). Standard library only.
"""
import asyncio, signal, sys

if len(sys.argv) != 3 or sys.argv[1] in ("-h", "--help"):
    print(__doc__.strip()); sys.exit(0 if len(sys.argv) == 2 else 2)
listen_port, target_file = int(sys.argv[1]), sys.argv[2]
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
open_by_target = {}


last_target = None


def target():
    # Written with a rename by the drills; a reader never sees half a file, but a hand edit might: keep the last port.
    global last_target
    try:
        with open(target_file) as f:
            last_target = int(f.read().strip())
    except (OSError, ValueError):
        pass
    return last_target


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_reader, client_writer):
    port = target()
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", port)
    except (OSError, TypeError):
        client_writer.close()
        return
    tasks = [asyncio.create_task(pipe(client_reader, server_writer)), asyncio.create_task(pipe(server_reader, client_writer))]
    open_by_target.setdefault(port, set()).update(tasks)
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
        open_by_target.get(port, set()).discard(task)


async def watch():
    current = target()
    while True:
        await asyncio.sleep(0.05)
        port = target()
        if port != current:
            for task in open_by_target.pop(current, set()):
                task.cancel()
            current = port


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await asyncio.gather(server.serve_forever(), watch())

asyncio.run(main())
