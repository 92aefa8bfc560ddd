"""A TCP port free on 127.0.0.1 now, for a daemon about to be started on it.

Chosen at random below the kernel's ephemeral range (32768-60999): the outgoing connections of whatever else runs take
ephemeral ports, and one of them could take a port the kernel had just handed out with bind(("127.0.0.1", 0)).
30000-32767: the Swift tests hand out 20000-29999 (Tests/StoreTestSupport/Ports.swift), in turn, and the scripts they
run (the walkthrough's demo) must not meet them there.

Usage from Python: `from ports import free_port` (with scripts/lib on sys.path); from a shell: `python3 ports.py`.
"""
import random
import socket


def free_port():
    for _ in range(100):
        port = random.randint(30000, 32767)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise SystemExit("free_port: no free port in 30000-32767")


if __name__ == "__main__":
    print(free_port())
