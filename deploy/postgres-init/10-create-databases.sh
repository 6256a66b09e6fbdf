#!/usr/bin/env bash
# Create the `dagster` and `mlflow` databases, each owned by its own login role, so
# that neither service can read or drop the other's tables.
#
# The postgres image runs this once, on an empty data directory, with psql already
# pointed at the fresh server (superuser $POSTGRES_USER). The integration test runs the
# same script against its own server through PGHOST/PGPORT/PGUSER.
# Names and passwords reach the SQL as psql variables (:"name" quotes an identifier,
# :'name' a literal), so a password with quotes in it cannot break the statement.
set -euo pipefail

: "${DAGSTER_PG_USERNAME:?set DAGSTER_PG_USERNAME (see .env.example)}"
: "${DAGSTER_PG_PASSWORD:?set DAGSTER_PG_PASSWORD (see .env.example)}"
: "${DAGSTER_PG_DB:?set DAGSTER_PG_DB (see .env.example)}"
: "${MLFLOW_PG_USERNAME:?set MLFLOW_PG_USERNAME (see .env.example)}"
: "${MLFLOW_PG_PASSWORD:?set MLFLOW_PG_PASSWORD (see .env.example)}"
: "${MLFLOW_PG_DB:?set MLFLOW_PG_DB (see .env.example)}"

create_database() {
  psql -v ON_ERROR_STOP=1 --no-psqlrc \
    --username "${POSTGRES_USER:-${PGUSER:-postgres}}" --dbname postgres \
    -v role="$1" -v password="$2" -v db="$3" <<'SQL'
CREATE ROLE :"role" LOGIN PASSWORD :'password';
CREATE DATABASE :"db" OWNER :"role";
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
SQL
}

create_database "$DAGSTER_PG_USERNAME" "$DAGSTER_PG_PASSWORD" "$DAGSTER_PG_DB"
create_database "$MLFLOW_PG_USERNAME" "$MLFLOW_PG_PASSWORD" "$MLFLOW_PG_DB"
