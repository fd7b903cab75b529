#!/usr/bin/env bash
# Install Prometheus and promtool (Debian's `prometheus` package) when either is missing:
# the monitoring tests (make test-monitoring, tests/monitoring/) run them. Idempotent and
# quiet; needs root (or sudo) and apt. The tests start their own Prometheus on a free
# loopback port, so the package's own service is stopped and disabled when the install
# started it: it would hold port 9090 and scrape nothing of ours.
set -euo pipefail

if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then
  exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
  echo "error: promtool/prometheus are missing and apt-get is not available; install Prometheus" \
    "2.x (prometheus and promtool on PATH) with your package manager" >&2
  exit 1
}
SUDO=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: installing prometheus needs root (or sudo)" >&2; exit 1; }
  SUDO=(sudo)
fi
install() {
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends prometheus >/dev/null
}
echo "==> installing prometheus and promtool (Debian package prometheus)" >&2
# A machine whose package lists were never fetched needs an update first.
install 2>/dev/null || { "${SUDO[@]}" apt-get update -qq >/dev/null && install; }
if [[ -d /run/systemd/system ]] && command -v systemctl >/dev/null 2>&1; then
  "${SUDO[@]}" systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then
  echo "error: the prometheus package installed, but promtool/prometheus are still not on PATH" >&2
  exit 1
fi
