#!/bin/sh
# Runs a command beside an avahi-daemon of its own, and stops both after it: `ip netns exec NS sh avahi-env.sh
# CMD…`. The daemon, its D-Bus and their sockets are this run's only (private mounts over /run/dbus and
# /run/avahi-daemon, in a mount namespace the script makes). Exit 4 when avahi cannot start here, 2 outside
# a test network.
command -v avahi-daemon >/dev/null && command -v dbus-daemon >/dev/null || exit 4
# Only ever on a private network (lo and the tests' lan* links, as `ip netns exec` shows them), and always in
# a mount namespace of its own, made here (fail closed: nothing else is trusted to have made one).
for n in $(ls /sys/class/net); do
  case "$n" in
    lo | lan[0-9]*) ;;
    *) echo "avahi-env.sh: refusing: interface $n is not a test link (run inside the test's network namespace)" >&2; exit 2 ;;
  esac
done
if [ "${LANCHAT_AVAHI_PRIVATE_MOUNTS:-}" != "$$" ]; then
  command -v unshare >/dev/null || exit 4
  exec env LANCHAT_AVAHI_PRIVATE_MOUNTS=pending unshare -m --propagation private sh -c 'LANCHAT_AVAHI_PRIVATE_MOUNTS=$$ exec sh "$0" "$@"' "$0" "$@"
fi
mkdir -p /run/dbus /run/avahi-daemon || exit 4
mount -t tmpfs tmpfs /run/dbus && mount -t tmpfs tmpfs /run/avahi-daemon || exit 4
dbus-daemon --system --nofork --nopidfile &
DBUS=$!
CMD=
cleanup() {
  [ -n "$CMD" ] && kill "$CMD" 2>/dev/null
  avahi-daemon -k 2>/dev/null
  kill "$DBUS" 2>/dev/null
}
trap 'cleanup; exit 143' TERM INT
i=0
until [ -S /run/dbus/system_bus_socket ]; do
  i=$((i + 1)); [ "$i" -lt 100 ] || { cleanup; exit 4; }; sleep 0.05
done
avahi-daemon --no-drop-root --no-chroot --no-rlimits -D >/dev/null 2>&1 || { cleanup; exit 4; }
i=0
until avahi-daemon -c 2>/dev/null; do
  i=$((i + 1)); [ "$i" -lt 100 ] || { cleanup; exit 4; }; sleep 0.1
done
"$@" &
CMD=$!
wait "$CMD"
rc=$?
CMD=
cleanup
exit "$rc"
