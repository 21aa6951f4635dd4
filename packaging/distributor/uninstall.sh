#!/bin/sh
# vestige SSM Distributor package: uninstall. Keeps /var/lib/vestige (fallback collections are
# evidence) and /etc/vestige (the operator's configuration).
set -eu
if [ -d /run/systemd/system ] && [ -f /etc/systemd/system/vestige-shutdown-capture.service ]; then
  # Disable without stopping: stopping would not collect (only shutdown does), but be explicit.
  systemctl disable vestige-shutdown-capture.service 2>/dev/null || true
fi
rm -f /etc/systemd/system/vestige-shutdown-capture.service /etc/vestige/shutdown-capture.env.example
rm -f /opt/vestige/bin/vestige
rm -rf /opt/vestige/share/profiles
rmdir /opt/vestige/bin /opt/vestige/share /opt/vestige 2>/dev/null || true
if [ -d /run/systemd/system ]; then systemctl daemon-reload || true; fi
