#!/bin/sh
# vestige SSM Distributor package: install (run as root from the unpacked package).
set -eu
cd "$(dirname "$0")"
install -d -m 0755 /opt/vestige/bin /opt/vestige/share/profiles
# Replace atomically: a collection may be running the old binary.
install -m 0755 vestige /opt/vestige/bin/.vestige.new
mv -f /opt/vestige/bin/.vestige.new /opt/vestige/bin/vestige
install -m 0644 profiles/*.yaml /opt/vestige/share/profiles/
install -d -m 0700 /var/lib/vestige
if [ -d /etc/systemd/system ]; then
  install -m 0644 vestige-shutdown-capture.service /etc/systemd/system/vestige-shutdown-capture.service
  install -d -m 0755 /etc/vestige
  install -m 0644 shutdown-capture.env.example /etc/vestige/shutdown-capture.env.example
  if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
fi
/opt/vestige/bin/vestige --version
