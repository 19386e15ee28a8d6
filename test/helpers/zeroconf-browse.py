"""Lists _lanchat._tcp services with python-zeroconf, an mDNS implementation
independent of ours, as JSON on stdout. Run only inside a private network
namespace whose interfaces are lo and the tests' lan* links (the lanchat tests
arrange this).
Exit: 0 = printed, 3 = python3-zeroconf missing, 2 = refused (a real interface)."""
import json, re, socket, sys, time

names_of_ifs = [n for _, n in socket.if_nameindex()]
if any(not re.fullmatch(r"lo|lan\d+", n) for n in names_of_ifs):
    print("refusing: not in a private namespace (interfaces: %s)" % names_of_ifs, file=sys.stderr)
    sys.exit(2)
try:
    from zeroconf import InterfaceChoice, IPVersion, ServiceBrowser, ServiceInfo, Zeroconf
except ImportError:
    sys.exit(3)

STYPE = "_lanchat._tcp.local."
seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
lo_only = names_of_ifs == ["lo"]
zc = Zeroconf(interfaces=["127.0.0.1"] if lo_only else InterfaceChoice.All, ip_version=IPVersion.V4Only)
names = set()
ServiceBrowser(zc, STYPE, handlers=[lambda zeroconf, service_type, name, state_change: names.add(name)])
time.sleep(seconds)
out = []
for name in sorted(names):
    info = ServiceInfo(STYPE, name)
    info.request(zc, 1000)
    if info.port is not None:
        txt = {k.decode(): (v.decode() if v is not None else None) for k, v in (info.properties or {}).items()}
        out.append({"name": name, "host": info.server, "port": info.port, "txt": txt, "addresses": sorted(info.parsed_addresses(IPVersion.V4Only))})
zc.close()
print(json.dumps(out))
