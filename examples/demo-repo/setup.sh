#!/bin/sh
# Setup phase (network on, secrets present): fetch the dependency from the package mirror.
set -eu
gateway=$(ip route | awk '$1 == "default" {print $3; exit}')
[ -n "$gateway" ] || { echo "setup: no network" >&2; exit 1; }
mirror="http://$gateway:8080"
mkdir -p vendor
echo "setup: fetching greetlib 1.2 from the package mirror $mirror"
timeout 20 wget -q --header "Authorization: Bearer $MIRROR_TOKEN" -O vendor/greetlib.sh "$mirror/greetlib-1.2.sh"
want=$(awk '$1 == "greetlib" {print $3}' deps.lock)
got=$(sha256sum vendor/greetlib.sh | cut -d' ' -f1)
[ "$want" = "$got" ] || { echo "setup: greetlib checksum mismatch: $got" >&2; exit 1; }
echo "setup: greetlib 1.2 verified (sha256 ${got%"${got#????????????}"}...)"
echo "$mirror" > vendor/MIRROR
