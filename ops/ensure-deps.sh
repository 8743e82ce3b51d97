#!/usr/bin/env bash
# Installs the Debian packages Caravan needs to build and test, and only those
# that are missing, so a second run costs one dpkg query. Works as root and
# through sudo otherwise. Sourced or run by the other ops/ scripts.
set -euo pipefail

CARAVAN_PACKAGES=(
    build-essential cmake pkg-config
    libevent-dev libyajl-dev libssl-dev libpq-dev libhiredis-dev libcmocka-dev
    clang clang-format libclang-rt-14-dev
    postgresql-15 # initdb/pg_ctl for the servers the tests start (tests/pg)
)

missing=()
for pkg in "${CARAVAN_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$pkg")
    fi
done

if [ "${#missing[@]}" -eq 0 ]; then
    exit 0
fi

echo "ops: installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
    sudo_cmd=()
elif command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
else
    echo "ops: need root or sudo to install: ${missing[*]}" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo_cmd[@]}" apt-get update -q
"${sudo_cmd[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
