"""Lists _lanchat._tcp services with python-zeroconf, an mDNS implementation
independent of ours, as JSON on stdout. Run only inside a private network
namespace whose only interface is lo (the lanchat tests arrange this).
Exit: 0 = printed, 3 = python3-zeroconf missing, 2 = refused (a real interface)."""
import json, socket, sys, time

if [n for _, n in socket.if_nameindex()] != ["lo"]:
    print("refusing: not in a private namespace with only lo", file=sys.stderr)
    sys.exit(2)
try:
    from zeroconf import IPVersion, ServiceBrowser, ServiceInfo, Zeroconf
except ImportError:
    sys.exit(3)

STYPE = "_lanchat._tcp.local."
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
zc = Zeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
names = set()
ServiceBrowser(zc, STYPE, handlers=[lambda zeroconf, service_type, name, state_change: names.add(name)])
time.sleep(seconds)
out = []
for name in sorted(names):
    info = ServiceInfo(STYPE, name)
    info.request(zc, 1000)  # on lo-only hosts there are no A records (bonjour-service skips loopback): SRV + TXT suffice
    if info.port is not None:
        txt = {k.decode(): (v.decode() if v is not None else None) for k, v in (info.properties or {}).items()}
        out.append({"name": name, "host": info.server, "port": info.port, "txt": txt})
zc.close()
print(json.dumps(out))
