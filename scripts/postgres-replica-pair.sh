#!/usr/bin/env bash
# A PostgreSQL primary and its synchronous streaming standby on this
# machine, for the failover test (tests/tests/postgres_failover.rs,
# decision 1020). Run as root on Debian 12 with PostgreSQL 15 installed
# (scripts/postgres-setup.sh installs it).
#
#   postgres-replica-pair.sh up PRIMARY_PORT STANDBY_PORT   # prints the primary's and the standby's URLs
#   postgres-replica-pair.sh crash-primary                  # stop -m immediate: no clean shutdown
#   postgres-replica-pair.sh promote                        # the standby becomes the primary
#   postgres-replica-pair.sh down                           # drop both clusters
#
# The primary waits for the standby to flush every commit
# (synchronous_standby_names, synchronous_commit = on): what a client saw
# committed is on the standby.
set -euo pipefail

V=15
PRIMARY=credex_primary
STANDBY=credex_standby
ROLE=credex_ha
PASSWORD=credex_ha
DATABASE=credex_ha

log() { printf 'postgres-replica-pair: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}
[ "$(id -u)" -eq 0 ] || die "run as root (it creates clusters and acts as the postgres user)"
cd /

exists() { pg_lsclusters -h | awk -v v="$V" -v c="$1" '$1 == v && $2 == c { found = 1 } END { exit !found }'; }
port_of() { pg_lsclusters -h | awk -v v="$V" -v c="$1" '$1 == v && $2 == c { print $3 }'; }
sql() {
  local port="$1"
  shift
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres -tA "$@"
}
wait_for() {
  local what="$1" tries=0
  shift
  until "$@"; do
    tries=$((tries + 1))
    [ "$tries" -le 120 ] || die "timed out waiting for ${what}"
    sleep 0.5
  done
}

down() {
  for c in "$STANDBY" "$PRIMARY"; do
    if exists "$c"; then
      pg_dropcluster --stop "$V" "$c" >&2 || true
    fi
  done
}

case "${1:-}" in
  up)
    pp="${2:?primary port}"
    sp="${3:?standby port}"
    down
    log "creating the primary ${V}/${PRIMARY} on port ${pp}"
    pg_createcluster "$V" "$PRIMARY" -p "$pp" >&2
    cat >>"/etc/postgresql/${V}/${PRIMARY}/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
fsync = on
CONF
    echo "host replication ${ROLE} 127.0.0.1/32 scram-sha-256" >>"/etc/postgresql/${V}/${PRIMARY}/pg_hba.conf"
    pg_ctlcluster "$V" "$PRIMARY" start >&2
    wait_for "the primary" pg_isready -q -h 127.0.0.1 -p "$pp"
    sql "$pp" -c "CREATE ROLE ${ROLE} LOGIN REPLICATION PASSWORD '${PASSWORD}'"
    sql "$pp" -c "CREATE DATABASE ${DATABASE} OWNER ${ROLE}"

    log "creating the standby ${V}/${STANDBY} on port ${sp} from a base backup"
    pg_createcluster "$V" "$STANDBY" -p "$sp" >&2
    data="/var/lib/postgresql/${V}/${STANDBY}"
    rm -rf "${data:?}"/*
    runuser -u postgres -- env PGPASSWORD="$PASSWORD" \
      pg_basebackup -h 127.0.0.1 -p "$pp" -U "$ROLE" -D "$data" -X stream -c fast >&2
    runuser -u postgres -- touch "${data}/standby.signal"
    cat >>"/etc/postgresql/${V}/${STANDBY}/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
primary_conninfo = 'host=127.0.0.1 port=${pp} user=${ROLE} password=${PASSWORD} application_name=${STANDBY}'
CONF
    pg_ctlcluster "$V" "$STANDBY" start >&2
    wait_for "the standby" pg_isready -q -h 127.0.0.1 -p "$sp"
    # Synchronous only now: with no standby yet, every commit would wait.
    sql "$pp" -c "ALTER SYSTEM SET synchronous_standby_names = '${STANDBY}'"
    sql "$pp" -c "SELECT pg_reload_conf()" >/dev/null
    wait_for "synchronous replication" test \
      "$(sql "$pp" -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '${STANDBY}'")" = sync
    log "ready: ${PRIMARY} on ${pp}, ${STANDBY} on ${sp} (synchronous)"
    echo "postgres://${ROLE}:${PASSWORD}@127.0.0.1:${pp}/${DATABASE}"
    echo "postgres://${ROLE}:${PASSWORD}@127.0.0.1:${sp}/${DATABASE}"
    ;;
  crash-primary)
    pg_ctlcluster "$V" "$PRIMARY" stop -m immediate >&2
    ;;
  promote)
    sp="$(port_of "$STANDBY")"
    pg_ctlcluster "$V" "$STANDBY" promote >&2
    wait_for "the promotion" test "$(sql "$sp" -c "SELECT pg_is_in_recovery()")" = f
    log "${STANDBY} promoted"
    ;;
  down)
    down
    ;;
  *)
    die "usage: $0 up PRIMARY_PORT STANDBY_PORT | crash-primary | promote | down"
    ;;
esac
