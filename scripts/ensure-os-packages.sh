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
# PHP extension (as `php -m` names it) and its package; mysqli: the package tests' MariaDB index checks.
if command -v php >/dev/null; then
  for pair in curl:php-curl mbstring:php-mbstring dom:php-xml pdo_sqlite:php-sqlite3 mysqli:php-mysql; do
    php -m | grep -qi "^${pair%%:*}$" || need+=("${pair#*:}")
  done
else
  need+=(php-curl php-mbstring php-xml php-sqlite3 php-mysql)
fi
[ ${#need[@]} -eq 0 ] && exit 0
echo "installing OS packages: ${need[*]}"
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
