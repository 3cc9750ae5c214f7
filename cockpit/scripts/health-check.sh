#!/bin/sh
# The daily health check of one host, read-only: uptime and load, disk, memory, failed units.
# Plain POSIX tools only, so it runs on any host the cockpit reaches over ssh.
echo "== $(hostname) at $(date -u +%Y-%m-%dT%H:%M:%SZ)"
uptime
echo "== disk"
df -h -x tmpfs -x devtmpfs 2>/dev/null || df -h
echo "== memory"
free -m 2>/dev/null || vm_stat 2>/dev/null || true
if command -v systemctl >/dev/null 2>&1; then
    echo "== failed units"
    systemctl --failed --no-legend --plain 2>/dev/null || true
fi
