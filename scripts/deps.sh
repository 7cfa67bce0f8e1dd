#!/usr/bin/env bash
# Installs the Debian packages misalign needs, if any are missing.
set -eu
need=(gcc make clang libopenblas-dev libstb-dev libcjson-dev libjpeg62-turbo-dev libjpeg-turbo-progs python3-numpy python3-pil python3-regex openmpi-bin libopenmpi-dev)
# chromium only draws a report to look at it (scripts/render-report.sh): `bash scripts/deps.sh render`
[ "${1:-}" = render ] && need+=(chromium)
missing=()
for p in "${need[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
