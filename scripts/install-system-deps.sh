#!/usr/bin/env bash
# System packages, installed only when missing (root or sudo).
#   run:  the GOST engine for OpenSSL (the sandbox makes GOST keys), python3-venv
#   test: the above, plus PHP SoapClient, node, Mono's wsdl/mcs and Java's wsimport/javac (foreign clients and
#         client generators), promtool (alert rules) and xmllint (c14n); mono-devel is the big one
#         (docs/soap-contracts.md: sizes, times)
#   bench: the run ones, plus wrk (the load generator of bench/bench_check_patient.py)
set -euo pipefail
purpose="${1:-test}"

missing=()
[ -e /usr/lib/x86_64-linux-gnu/engines-3/gost.so ] || [ -e /usr/lib/aarch64-linux-gnu/engines-3/gost.so ] \
  || missing+=(libengine-gost-openssl)
command -v python3 >/dev/null 2>&1 && python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ "$purpose" = "bench" ]; then
  command -v wrk >/dev/null 2>&1 || missing+=(wrk)
fi
if [ "$purpose" = "test" ]; then
  # grep reads all of php -m: with -q it may leave early, php dies of SIGPIPE and pipefail calls soap missing
  command -v php >/dev/null 2>&1 && php -m 2>/dev/null | grep -i '^soap$' >/dev/null || missing+=(php-cli php-soap)
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
  { command -v wsdl && command -v mcs && command -v mono; } >/dev/null 2>&1 || missing+=(mono-devel)
  command -v javac >/dev/null 2>&1 || missing+=(default-jdk-headless)
  command -v wsimport >/dev/null 2>&1 || missing+=(jaxws)
  command -v xmllint >/dev/null 2>&1 || missing+=(libxml2-utils)  # exclusive c14n cross-check (test_smev_signature)
fi

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing system packages: ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
