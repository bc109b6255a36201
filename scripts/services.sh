#!/usr/bin/env bash
# Makes sure the local servers the test suite talks to are up (PostgreSQL, MariaDB, Redis,
# RabbitMQ, Mosquitto, NATS with JetStream), starting any that is down. Idempotent.
set -uo pipefail

up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_up() {
  local port=$1 name=$2 i
  for i in $(seq 1 120); do up "$port" && return 0; sleep 0.5; done
  echo "services: $name did not come up on port $port" >&2
  return 1
}

start() {
  local port=$1 name=$2; shift 2
  if up "$port"; then return 0; fi
  echo "services: starting $name"
  "$@" >/dev/null 2>&1 || true
  wait_up "$port" "$name"
}

status=0
start 5432 postgresql pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql 2>/dev/null | head -n1)" main start || status=1
start 3306 mariadb start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || status=1
start 6379 redis redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
  --dir /var/lib/redis --logfile /var/log/redis/ci.log || status=1
start 5672 rabbitmq rabbitmq-server -detached || status=1
start 1883 mosquitto mosquitto -d -c /etc/mosquitto/mosquitto.conf || status=1
start 4222 nats start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- \
  -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log || status=1
exit $status
