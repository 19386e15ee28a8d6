#!/bin/sh
# Runs a command beside an avahi-daemon of its own, and stops both after it. Called inside a private network
# namespace and a private mount namespace (`ip netns exec NS unshare -m --propagation private sh avahi-env.sh
# CMD…`), so the daemon, its D-Bus and their sockets are this run's only. Exit 4 when avahi cannot start here.
command -v avahi-daemon >/dev/null && command -v dbus-daemon >/dev/null || exit 4
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
