"""Runs moto's AWS emulator on loopback for recovery-engine's tests and demo.

Usage: python moto_server.py <host> <port>

It exits on its own when the process that started it goes away (even one killed with SIGKILL),
so an interrupted test run never leaves an emulator behind.
"""
import os
import sys
import time

from moto.server import ThreadedMotoServer


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    parent = os.getppid()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        while os.getppid() == parent:
            time.sleep(0.5)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
