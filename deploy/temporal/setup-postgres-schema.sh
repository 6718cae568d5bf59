#!/bin/sh
# Creates Temporal's two PostgreSQL databases and brings their schemas to the version this
# admin-tools image ships. Runs in temporalio/admin-tools before the server starts, at every
# `docker compose up`: each step is idempotent (an existing database is kept, setup-schema does not
# lower a version, update-schema applies only newer versions), so a second run changes nothing and
# a newer admin-tools image upgrades the schema before the newer server starts.
#
# Connection from temporal-sql-tool's own variables (SQL_PLUGIN, SQL_HOST, SQL_PORT, SQL_USER,
# SQL_PASSWORD): the password never appears on a command line.
set -eu

: "${SQL_PLUGIN:?SQL_PLUGIN is not set (postgres12)}"
: "${SQL_HOST:?SQL_HOST is not set}"
: "${SQL_PASSWORD:?SQL_PASSWORD is not set}"
SCHEMA_DIR=${TEMPORAL_SCHEMA_DIR:-/etc/temporal/schema/postgresql/v12}

for database in temporal:temporal temporal_visibility:visibility; do
  name=${database%%:*}
  versions="$SCHEMA_DIR/${database##*:}/versioned"
  [ -d "$versions" ] || { echo "no schema directory $versions in this image (TEMPORAL_SCHEMA_DIR)" >&2; exit 1; }
  echo "database $name: create if missing, schema up to the newest in $versions"
  temporal-sql-tool --db "$name" create-database
  temporal-sql-tool --db "$name" setup-schema -v 0.0
  temporal-sql-tool --db "$name" update-schema -d "$versions"
done
echo 'Temporal schemas are current'
