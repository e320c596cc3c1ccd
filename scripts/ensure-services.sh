#!/usr/bin/env bash
# Makes sure the Redis, PostgreSQL and MariaDB the tests talk to are up, starting local ones when not.
set -euo pipefail
port_up() { python3 - "$1" <<'PY'
import socket, sys
s = socket.socket(); s.settimeout(1)
sys.exit(0 if s.connect_ex(("127.0.0.1", int(sys.argv[1]))) == 0 else 1)
PY
}
wait_for() { for _ in $(seq 100); do port_up "$1" && return 0; sleep 0.2; done; return 1; }

if ! port_up 6379; then
  echo "starting redis-server on 127.0.0.1:6379"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
  wait_for 6379 || { echo "Redis did not come up on 127.0.0.1:6379" >&2; exit 1; }
fi

if ! port_up 5432; then
  echo "starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  wait_for 5432 || { echo "PostgreSQL did not come up on 127.0.0.1:5432" >&2; exit 1; }
fi

if ! port_up 3306; then
  echo "starting MariaDB"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  [ -d /var/lib/mysql/mysql ] || mariadb-install-db --user=mysql --datadir=/var/lib/mysql >/dev/null
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1
  wait_for 3306 || { echo "MariaDB did not come up on 127.0.0.1:3306" >&2; exit 1; }
fi
exit 0
