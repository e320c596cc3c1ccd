#!/usr/bin/env bash
# Installs the OS packages the test suite needs when they are missing (Debian/Ubuntu).
set -euo pipefail
need=()
command -v php >/dev/null || need+=(php-cli)
command -v phpunit >/dev/null || need+=(phpunit)
command -v redis-server >/dev/null || need+=(redis-server)
command -v nginx >/dev/null || need+=(nginx-light)
command -v mariadbd >/dev/null || [ -x /usr/sbin/mariadbd ] || need+=(mariadb-server)
command -v psql >/dev/null || [ -d /etc/postgresql ] || need+=(postgresql)
# The registration pages: the PDF's Unicode font; Chromium and Node for the browser test (tests/registration/browser).
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v chromium >/dev/null || need+=(chromium)
command -v npm >/dev/null || need+=(npm)
if command -v php >/dev/null; then
  for ext in curl mbstring xml sqlite3; do
    php -m | grep -qi "^${ext/xml/dom}$" || need+=("php-$ext")
  done
else
  need+=(php-curl php-mbstring php-xml php-sqlite3)
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing OS packages: ${need[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
