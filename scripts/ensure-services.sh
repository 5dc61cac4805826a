#!/usr/bin/env bash
# Make sure the Postgres and Redis the tests use answer on 127.0.0.1:5432 and :6379, starting local ones if not.
set -euo pipefail

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }
redis_up() { [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = "PONG" ]; }

if ! pg_up; then
  if ! command -v pg_ctlcluster >/dev/null; then
    echo "Postgres does not answer on 127.0.0.1:5432 and is not installed (apt-get install postgresql)" >&2
    exit 1
  fi
  echo "starting Postgres"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n 1)" main start
fi
if ! redis_up; then
  if ! command -v redis-server >/dev/null; then
    echo "Redis does not answer on 127.0.0.1:6379 and is not installed (apt-get install redis-server)" >&2
    exit 1
  fi
  echo "starting Redis"
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
for _ in $(seq 1 50); do
  if pg_up && redis_up; then exit 0; fi
  sleep 0.2
done
echo "Postgres or Redis did not come up within 10 s" >&2
exit 1
