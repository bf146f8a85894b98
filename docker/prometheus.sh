#!/usr/bin/env bash
# Prometheus and promtool for the alert-rule tests and the scrape test, from Debian's `prometheus`
# package (the same way the broker's jars come from Maven: by the project's scripts, never by hand).
#
#   docker/prometheus.sh ensure   install the package when `promtool` is missing; print the
#                                 directory holding `prometheus` and `promtool`
#
# The package's own service is not wanted (tests start Prometheus on a free port with a temporary
# data directory), so it is stopped and disabled where a service manager would have started it.
set -euo pipefail

say() { echo "prometheus: $*" >&2; }

installed() { command -v promtool >/dev/null && command -v prometheus >/dev/null; }

ensure() {
  if ! installed; then
    command -v apt-get >/dev/null || { say "promtool not found and apt-get is missing: install Debian's 'prometheus' package"; exit 1; }
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
      command -v sudo >/dev/null || { say "promtool not found: run 'apt-get install -y prometheus' as root"; exit 1; }
      sudo="sudo -n"
    fi
    say "installing Debian's prometheus package"
    # policy-rc.d 101 keeps the package's post-install from starting its own server.
    policy=/usr/sbin/policy-rc.d
    made_policy=""
    if [ ! -e "$policy" ]; then
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod +x "$policy" && made_policy=1
    fi
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >&2
    [ -n "$made_policy" ] && $sudo rm -f "$policy"
    installed || { say "the prometheus package did not provide promtool"; exit 1; }
  fi
  dirname "$(command -v promtool)"
}

case "${1:-ensure}" in
  ensure) ensure ;;
  *) echo "usage: $0 ensure" >&2; exit 2 ;;
esac
