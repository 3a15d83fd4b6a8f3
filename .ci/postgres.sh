#!/usr/bin/env bash
# Start a throwaway PostgreSQL on 127.0.0.1 (a free port, password auth) for the
# integration tests, and print the variables the tests read:
#   eval "$(bash .ci/postgres.sh)"
set -euo pipefail
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  { apt-get update -qq && apt-get install -y -qq postgresql; } >/dev/null 2>&1
fi
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
data=$(mktemp -d /tmp/ablate-pg.XXXXXX)
chown postgres "$data"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password="ablate-$RANDOM-secret"
printf '%s\n' "$password" > "$data/pw"
chown postgres "$data/pw"
su postgres -c "$bin/initdb -D $data/db -U postgres --auth=scram-sha-256 --pwfile=$data/pw" >/dev/null
opts="-p $port -k /tmp -c listen_addresses=127.0.0.1"
su postgres -c "$bin/pg_ctl -D $data/db -o '$opts' -l $data/log -w start" >/dev/null
PGPASSWORD="$password" su postgres -c "PGPASSWORD=$password $bin/createdb -h 127.0.0.1 -p $port ablate_test"
echo "export ABLATE_TEST_POSTGRES_URL='postgresql+psycopg2://postgres:$password@127.0.0.1:$port/ablate_test'"
echo "export ABLATE_TEST_POSTGRES_RESTART='su postgres -c \"$bin/pg_ctl -D $data/db -o \\\"$opts\\\" -l $data/log -m fast -w restart\"'"
echo "export ABLATE_TEST_POSTGRES_STOP='su postgres -c \"$bin/pg_ctl -D $data/db -m fast -w stop\"'"
