#!/bin/sh
# Initialise the data directory on first start (root password, database, user with all
# rights on it, every host allowed), then run the server in the foreground.
set -eu
datadir=/var/lib/mysql
mkdir -p /run/mysqld "$datadir"
chown mysql:mysql /run/mysqld "$datadir"
root_pw="${MYSQL_ROOT_PASSWORD:-${MARIADB_ROOT_PASSWORD:-}}"
db="${MYSQL_DATABASE:-${MARIADB_DATABASE:-}}"
user="${MYSQL_USER:-${MARIADB_USER:-}}"
pw="${MYSQL_PASSWORD:-${MARIADB_PASSWORD:-}}"
sq() { printf '%s' "$1" | sed "s/'/''/g"; }
if [ "${1:-mariadbd}" = mariadbd ]; then
  if [ ! -d "$datadir/mysql" ]; then
    : "${root_pw:?MYSQL_ROOT_PASSWORD is required}"
    mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
    {
      echo "FLUSH PRIVILEGES;"
      echo "ALTER USER 'root'@'localhost' IDENTIFIED BY '$(sq "$root_pw")';"
      echo "CREATE USER 'root'@'%' IDENTIFIED BY '$(sq "$root_pw")';"
      echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
      [ -n "$db" ] && echo "CREATE DATABASE IF NOT EXISTS \`$db\`;"
      if [ -n "$user" ] && [ -n "$pw" ]; then
        echo "CREATE USER '$(sq "$user")'@'%' IDENTIFIED BY '$(sq "$pw")';"
        [ -n "$db" ] && echo "GRANT ALL ON \`$db\`.* TO '$(sq "$user")'@'%';"
      fi
      echo "FLUSH PRIVILEGES;"
    } | mariadbd --user=mysql --datadir="$datadir" --bootstrap --skip-networking >/dev/null 2>&1
  fi
  shift || true
  exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --skip-name-resolve "$@"
fi
exec "$@"
