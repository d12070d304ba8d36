#!/usr/bin/env bash
# Prepare a local PostgreSQL for the credex storage tests.
#
# Run as root on Debian 12 (PostgreSQL 15 from Debian, no systemd needed).
# Idempotent: installs the server if it is missing, creates the cluster if it
# is missing, starts it if it is not running, waits until it accepts
# connections, and creates the role and database if they are absent.
#
# All progress goes to stderr; the only line on stdout is the connection URL:
#
#   export CREDEX_TEST_POSTGRES_URL=$(bash scripts/postgres-setup.sh)
set -euo pipefail

PG_VERSION=15
CLUSTER=main
ROLE=credex
PASSWORD=credex
DATABASE=credex_test
READY_TIMEOUT_SECS=60

log() { printf 'postgres-setup: %s\n' "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (it installs packages and acts as the postgres user)"

# Commands run as the postgres user start in / so psql does not complain
# about an unreadable working directory.
cd /

bindir="/usr/lib/postgresql/${PG_VERSION}/bin"
if ! command -v pg_ctlcluster >/dev/null 2>&1 || [ ! -x "${bindir}/postgres" ]; then
  log "installing postgresql ${PG_VERSION} with apt-get"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y postgresql >&2
fi
[ -x "${bindir}/postgres" ] || die "${bindir}/postgres is missing after installation (is this Debian 12?)"

# pg_lsclusters -h prints: version cluster port status owner datadir logfile
cluster_field() {
  pg_lsclusters -h | awk -v v="$PG_VERSION" -v c="$CLUSTER" -v f="$1" '$1 == v && $2 == c { print $f }'
}

if [ -z "$(cluster_field 2)" ]; then
  log "creating cluster ${PG_VERSION}/${CLUSTER}"
  pg_createcluster "$PG_VERSION" "$CLUSTER" >&2
fi

port="$(cluster_field 3)"
[ -n "$port" ] || die "cluster ${PG_VERSION}/${CLUSTER} has no port in pg_lsclusters"

case "$(cluster_field 4)" in
  online*)
    log "cluster ${PG_VERSION}/${CLUSTER} already running on port ${port}"
    ;;
  *)
    log "starting cluster ${PG_VERSION}/${CLUSTER} on port ${port}"
    pg_ctlcluster "$PG_VERSION" "$CLUSTER" start >&2
    ;;
esac

log "waiting for the server to accept connections"
waited=0
until pg_isready -q -h 127.0.0.1 -p "$port"; do
  waited=$((waited + 1))
  [ "$waited" -le "$READY_TIMEOUT_SECS" ] ||
    die "server not ready after ${READY_TIMEOUT_SECS}s; see /var/log/postgresql/postgresql-${PG_VERSION}-${CLUSTER}.log"
  sleep 1
done

# psql as the postgres superuser over the local socket (peer authentication).
as_postgres() {
  runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$port" -d postgres -tA "$@"
}

if [ "$(as_postgres -c "SELECT 1 FROM pg_roles WHERE rolname = '${ROLE}'")" = 1 ]; then
  log "role ${ROLE} exists; making sure it can log in with the expected password"
  as_postgres -c "ALTER ROLE ${ROLE} WITH LOGIN CREATEDB PASSWORD '${PASSWORD}'" >&2
else
  log "creating role ${ROLE}"
  as_postgres -c "CREATE ROLE ${ROLE} WITH LOGIN CREATEDB PASSWORD '${PASSWORD}'" >&2
fi

if [ "$(as_postgres -c "SELECT 1 FROM pg_database WHERE datname = '${DATABASE}'")" = 1 ]; then
  log "database ${DATABASE} exists"
else
  log "creating database ${DATABASE} owned by ${ROLE}"
  as_postgres -c "CREATE DATABASE ${DATABASE} OWNER ${ROLE}" >&2
fi

# Check that the URL we print really works (TCP + password authentication).
PGPASSWORD="$PASSWORD" psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$port" -U "$ROLE" -d "$DATABASE" \
  -tAc "SELECT 1" >/dev/null || die "cannot log in as ${ROLE} to ${DATABASE} over TCP"

log "ready"
printf 'postgres://%s:%s@127.0.0.1:%s/%s\n' "$ROLE" "$PASSWORD" "$port" "$DATABASE"
