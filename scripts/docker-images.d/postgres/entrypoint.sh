#!/bin/sh
# Initialise the cluster on first start (superuser password from POSTGRES_PASSWORD, every host
# connection authenticated by password), then run the server as the postgres user.
set -eu
user="${POSTGRES_USER:-postgres}"
as_pg="setpriv --reuid=postgres --regid=postgres --init-groups"
mkdir -p "$PGDATA" /var/run/postgresql
chown postgres:postgres "$PGDATA" /var/run/postgresql
chmod 700 "$PGDATA"
if [ "${1:-postgres}" = postgres ]; then
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
    pwfile="$(mktemp)"; printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"; chown postgres "$pwfile"
    $as_pg initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" -E UTF8 --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    if [ -n "${POSTGRES_DB:-}" ] && [ "$POSTGRES_DB" != postgres ]; then
      $as_pg postgres --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE DATABASE "$POSTGRES_DB";
SQL
    fi
  fi
  shift || true
  exec $as_pg postgres -D "$PGDATA" "$@"
fi
exec "$@"
