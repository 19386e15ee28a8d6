#!/usr/bin/python3
"""Advertises a _lanchat._tcp service with python-zeroconf (an independent DNS-SD
implementation) until killed: `zeroconf-publish.py NAME PORT ID NETWORK ADDRESS`.
Prints "published" once registered. Exit 3 when python3-zeroconf is missing."""
import re
import signal
import socket
import sys
import time

if any(not re.fullmatch(r"lo|lan\d+", n) for _, n in socket.if_nameindex()):
    print("refusing: not in a private namespace", file=sys.stderr)
    sys.exit(2)

try:
    from zeroconf import IPVersion, ServiceInfo, Zeroconf
except ImportError:
    sys.exit(3)

name, port, node_id, network, address = sys.argv[1:6]
STYPE = "_lanchat._tcp.local."
info = ServiceInfo(
    STYPE,
    f"{name}.{STYPE}",
    port=int(port),
    properties={"txtvers": "1", "id": node_id, "net": network, "v": "1"},
    server=f"{name.lower().replace(' ', '-')}.local.",
    addresses=[socket.inet_pton(socket.AF_INET6 if ":" in address else socket.AF_INET, address)],
)
zc = Zeroconf(interfaces=[address], ip_version=IPVersion.All if ":" in address else IPVersion.V4Only)
zc.register_service(info)
print("published", flush=True)
stop = False
def on_term(*_):
    global stop
    stop = True
signal.signal(signal.SIGTERM, on_term)
while not stop:
    time.sleep(0.1)
zc.unregister_service(info)
zc.close()
