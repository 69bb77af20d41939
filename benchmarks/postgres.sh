#!/usr/bin/env bash
# A PostgreSQL cluster of the benchmark's own, with TechEmpower's hello_world database (World: 10,000 rows of random
# numbers; Fortune: 12 messages), on a port of its own; the machine's default cluster, if any, is left alone.
#
# Usage: bash benchmarks/postgres.sh start DIR PORT   initialises DIR (if new), starts the server, loads the data
#        bash benchmarks/postgres.sh stop DIR         stops it
# Installs Debian's postgresql package when its binaries are missing. Run as root, the server runs as user postgres.
# Prints the connection string on start.
set -euo pipefail
command=${1:?usage: postgres.sh start DIR PORT | stop DIR}
dir=${2:?usage: postgres.sh start DIR PORT | stop DIR}

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [[ -z $bin || ! -x $bin/postgres ]]; then
  echo "Installing postgresql" >&2
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi

as_owner() {
  if ((EUID == 0)); then runuser -u postgres -- "$@"; else "$@"; fi
}

case $command in
  start)
    port=${3:?usage: postgres.sh start DIR PORT}
    mkdir -p "$dir"
    ((EUID != 0)) || chown postgres: "$dir"
    if [[ ! -f $dir/data/PG_VERSION ]]; then
      as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log"
    fi
    # A benchmark database: durability off, connections enough for every architecture's pool, the socket in DIR.
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o "-p $port -k $dir -c listen_addresses=127.0.0.1 \
      -c max_connections=512 -c shared_buffers=256MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
    psql=(as_owner "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -v ON_ERROR_STOP=1 -q)
    if [[ -z $("${psql[@]}" -tAc "SELECT 1 FROM pg_database WHERE datname = 'hello_world'") ]]; then
      "${psql[@]}" -c "CREATE USER benchmarkdbuser WITH PASSWORD 'benchmarkdbpass'" -c "CREATE DATABASE hello_world OWNER benchmarkdbuser"
      "${psql[@]}" -d hello_world -U benchmarkdbuser <<'SQL'
CREATE TABLE world (id integer NOT NULL PRIMARY KEY, randomnumber integer NOT NULL DEFAULT 0);
INSERT INTO world (id, randomnumber) SELECT x, least(floor(random() * 10000 + 1), 10000) FROM generate_series(1, 10000) AS x;
CREATE TABLE fortune (id integer NOT NULL PRIMARY KEY, message varchar(2048) NOT NULL);
INSERT INTO fortune (id, message) VALUES
  (1, 'fortune: No such file or directory'),
  (2, 'A computer scientist is someone who fixes things that aren''t broken.'),
  (3, 'After enough decimal places, nobody gives a damn.'),
  (4, 'A bad random number generator: 1, 1, 1, 1, 1, 4.33e+67, 1, 1, 1'),
  (5, 'A computer program does what you tell it to do, not what you want it to do.'),
  (6, 'Emacs is a nice operating system, but I prefer UNIX. — Tom Christaensen'),
  (7, 'Any program that runs right is obsolete.'),
  (8, 'A list is only as strong as its weakest link. — Donald Knuth'),
  (9, 'Feature: A bug with seniority.'),
  (10, 'Computers make very fast, very accurate mistakes.'),
  (11, '<script>alert("This should not be displayed in a browser alert box.");</script>'),
  (12, 'フレームワークのベンチマーク');
ANALYZE world;
ANALYZE fortune;
SQL
    fi
    echo "Host=127.0.0.1;Port=$port;Database=hello_world;Username=benchmarkdbuser;Password=benchmarkdbpass"
    ;;
  stop)
    [[ ! -f $dir/data/postmaster.pid ]] || as_owner "$bin/pg_ctl" -D "$dir/data" -w -t 30 -m fast stop >/dev/null
    ;;
  *) echo "postgres.sh: unknown command '$command'" >&2; exit 2 ;;
esac
