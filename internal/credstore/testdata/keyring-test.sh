#!/bin/sh
# Runs the credstore keychain tests against a real Secret Service: a private D-Bus session
# bus (dbus-run-session) with gnome-keyring-daemon unlocked by a throw-away password, its
# keyrings in a throw-away directory, so the user's own keyring is never touched.
#
# Needs the Debian packages dbus and gnome-keyring. Usage, from anywhere:
#   sh internal/credstore/testdata/keyring-test.sh [extra go test flags]
set -eu
root=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$root"
for bin in dbus-run-session gnome-keyring-daemon; do
	if ! command -v "$bin" >/dev/null 2>&1; then
		echo "keyring-test: $bin is not installed (apt-get install -y dbus gnome-keyring)" >&2
		exit 1
	fi
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -m 700 "$tmp/runtime" "$tmp/data"
# gnome-keyring keeps its keyrings in $XDG_DATA_HOME/keyrings and its control socket in
# $XDG_RUNTIME_DIR/keyring. HOME stays, so the Go build and module caches are reused.
export XDG_DATA_HOME="$tmp/data" XDG_RUNTIME_DIR="$tmp/runtime" BBKEY_TEST_KEYRING=1
exec dbus-run-session -- sh -c '
	printf %s throwaway-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null
	exec go test -count=1 -run Keyring "$@" ./internal/credstore/
' keyring-test "$@"
