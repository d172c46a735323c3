#!/usr/bin/env bash
# Installs the training voices: Debian's asterisk-core-sounds-{en,es,fr,it,ru}-wav (CC-BY-SA-3.0), under
# /usr/share/asterisk/sounds. Needs root (or sudo) and Debian's archive; `make data` runs it, then builds
# the corpus with `wavenet data`. Other systems: install those packages' WAV files there by hand.
set -euo pipefail
packages=(asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav
          asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav)
command -v dpkg-query >/dev/null || { echo "not a Debian system: install ${packages[*]} by hand" >&2; exit 1; }
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q "${missing[@]}"
