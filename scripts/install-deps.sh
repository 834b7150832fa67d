#!/usr/bin/env bash
# Installs the Debian packages usero builds against, only when they are missing. Safe to run repeatedly and
# without a terminal (CI runs it with no standard input).
set -euo pipefail
packages=(libssl-dev libsqlite3-dev libcurl4-openssl-dev pkg-config "$@")
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "Installing Debian packages: ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
