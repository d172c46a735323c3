#!/usr/bin/env bash
# Installs the voices: Debian's asterisk-core-sounds-{en,es,fr,it,ru}-wav (CC-BY-SA-3.0) under
# /usr/share/asterisk/sounds (training), and unpacks two GSM 6.10 prompt sets into data/voices/ (not
# installed: their files would land in the same sounds/fr and sounds/es folders as other prompt sets):
#   asterisk-prompt-fr-armelle (BSD-style licence)  -> data/voices/fr_FR_f_Armelle, trained on;
#   asterisk-prompt-es-co (GPL-2)                   -> data/voices/es_CO_f_July, scored only, never trained
#     on: GPL-2 and CC-BY-SA-3.0 cannot both govern one derived work, so the weights stay CC-BY-SA-3.0,
#     and the voice is an unseen speaker for `wavenet eval`.
# Needs root (or sudo) and Debian's archive; `make data` runs it, then builds the corpus with `wavenet data`.
# Other systems: install those packages' files there by hand.
set -euo pipefail
voices_dir=${1:-data/voices}
packages=(asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav
          asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav)
declare -A prompts=([asterisk-prompt-fr-armelle]="fr:fr_FR_f_Armelle" [asterisk-prompt-es-co]="es:es_CO_f_July")
command -v dpkg-query >/dev/null || { echo "not a Debian system: install ${packages[*]} by hand" >&2; exit 1; }
missing=()
for package in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
sudo=$([ "$(id -u)" -eq 0 ] || echo sudo)
export DEBIAN_FRONTEND=noninteractive
updated=
if [ ${#missing[@]} -gt 0 ]; then
    $sudo apt-get update -q && updated=1
    $sudo apt-get install -y -q "${missing[@]}"
fi
mkdir -p "$voices_dir"
for package in "${!prompts[@]}"; do
    folder=${prompts[$package]#*:}
    [ -d "$voices_dir/$folder" ] && continue
    [ -n "$updated" ] || { $sudo apt-get update -q && updated=1; }
    work=$(mktemp -d)
    (cd "$work" && apt-get download -q "$package")
    dpkg-deb -x "$work"/*.deb "$work/root"
    mv "$work/root/usr/share/asterisk/sounds/${prompts[$package]%%:*}" "$voices_dir/$folder.tmp"
    mv "$voices_dir/$folder.tmp" "$voices_dir/$folder"
    rm -rf "$work"
done
