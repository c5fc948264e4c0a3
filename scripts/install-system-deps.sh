#!/usr/bin/env bash
# System packages the tests need: PHP SoapClient and node for the foreign-client tests,
# the GOST engine for OpenSSL, promtool (Debian's prometheus) for the alert rules.
# Installs only what is missing; needs root (or sudo).
set -euo pipefail

missing=()
command -v php >/dev/null 2>&1 && php -m 2>/dev/null | grep -qi '^soap$' || missing+=(php-cli php-soap)
command -v node >/dev/null 2>&1 || missing+=(nodejs)
command -v npm >/dev/null 2>&1 || missing+=(npm)
[ -e /usr/lib/x86_64-linux-gnu/engines-3/gost.so ] || [ -e /usr/lib/aarch64-linux-gnu/engines-3/gost.so ] \
  || missing+=(libengine-gost-openssl)
command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
