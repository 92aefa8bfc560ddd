# A throwaway PostgreSQL server for tests and CI: its own cluster in a folder, on a free port of 127.0.0.1,
# independent of any system cluster (Debian's "main" on 5432 is never used).
# Source it: `source scripts/lib/postgres.sh` (it sources common.sh for free_port when needed).
#
#   pg_bindir                       the folder holding initdb and pg_ctl (not on PATH on Debian)
#   pg_start_temp DIR               fresh cluster in DIR/data, started; writes DIR/url and DIR/port
#   pg_stop_temp DIR [fast|immediate]
#   pg_restart_temp DIR [immediate|fast]   stop (default immediate: a crash) then start on the same port
#   pg_remove_temp DIR              stop it (fast) and remove DIR
#   pg_configure_temp DIR 'name = value'...   append settings to DIR/data/postgresql.conf, then restart (fast)
#   pg_kill_temp DIR                kill -9 the postmaster (a crash) and wait until its processes are gone
#
# Layout of DIR: data/ (the cluster), sock/ (Unix socket), log (server log), url, port, password.
# The URL: postgres://alipay:PASSWORD@127.0.0.1:PORT/alipay_notify?sslmode=disable; the databases
# alipay_notify and alipay_notify_test exist; the user alipay is the cluster's superuser.
# As root the server runs as user `postgres` (PostgreSQL refuses root) and DIR is handed to that user.
# Functions return non-zero on failure (they never exit) and then leave the reason in PG_TEMP_ERROR.

if ! declare -F free_port >/dev/null; then
    # shellcheck source=common.sh
    source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
fi

PG_TEMP_ERROR=""

_pg_say() { echo "postgres: $*" >&2; }

# Records the reason in PG_TEMP_ERROR and prints it and the log's tail (when DIR is given and has one).
# Returns 0 so that a caller under `set -e` reaches its own `return 1` (the callers always return 1 next).
_pg_fail() { # message [dir]
    PG_TEMP_ERROR="$1"
    echo "postgres: error: $1" >&2
    if [[ -n ${2:-} && -s $2/log ]]; then
        echo "postgres: last lines of $2/log:" >&2
        tail -n 25 "$2/log" | sed 's/^/    /' >&2
    fi
    return 0
}

pg_bindir() {
    local dir candidate
    if command -v pg_config >/dev/null 2>&1; then
        dir=$(pg_config --bindir 2>/dev/null) || dir=""
        if [[ -n $dir && -x $dir/initdb && -x $dir/pg_ctl ]]; then echo "$dir"; return 0; fi
    fi
    # Debian/Ubuntu: /usr/lib/postgresql/<major>/bin, the highest version first.
    while IFS= read -r candidate; do
        if [[ -x $candidate/initdb && -x $candidate/pg_ctl ]]; then echo "$candidate"; return 0; fi
    done < <(compgen -G '/usr/lib/postgresql/*/bin' | sort -t/ -k5,5 -V -r)
    if candidate=$(command -v initdb 2>/dev/null); then
        candidate=$(dirname "$(readlink -f "$candidate")")
        if [[ -x $candidate/pg_ctl ]]; then echo "$candidate"; return 0; fi
    fi
    echo "postgres: error: no initdb/pg_ctl found (pg_config --bindir, /usr/lib/postgresql/*/bin, PATH); run scripts/bootstrap (Debian packages postgresql, libpq-dev)" >&2
    return 1
}

# runuser's path: PATH may lack /usr/sbin (a test process started with a trimmed environment).
_pg_runuser() {
    local candidate
    for candidate in "$(command -v runuser 2>/dev/null)" /usr/sbin/runuser /sbin/runuser; do
        if [[ -n $candidate && -x $candidate ]]; then echo "$candidate"; return 0; fi
    done
    return 1
}

# Runs a command as the user that owns the cluster: `postgres` when we are root, else ourselves.
_pg_as_owner() {
    if [[ $(id -u) -eq 0 ]]; then
        "$(_pg_runuser)" -u postgres -- "$@"
    else
        "$@"
    fi
}

# The Unix socket folder: DIR/sock, or a short one under /tmp when DIR is too long for a socket path
# (108 bytes including "/.s.PGSQL.NNNNN"). Its path is kept in DIR/sockdir.
_pg_sockdir() { # dir
    if [[ -s $1/sockdir ]]; then cat "$1/sockdir"; else echo "$1/sock"; fi
}

# Starts the server of DIR/data on PORT and waits until it accepts connections.
_pg_server_start() { # dir port
    local dir=$1 port=$2 bindir sockdir
    bindir=$(pg_bindir) || { PG_TEMP_ERROR="no initdb/pg_ctl found; run scripts/bootstrap"; return 1; }
    sockdir=$(_pg_sockdir "$dir")
    (cd "$dir" && _pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/log" -s -w -t 60 \
        -o "-p $port -k $sockdir -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=200" \
        start) >&2
}

pg_start_temp() { # dir
    local dir=${1:?usage: pg_start_temp DIR}
    local bindir psql password port attempt started=0 database sockdir
    PG_TEMP_ERROR=""
    mkdir -p "$dir" || { _pg_fail "cannot create $dir"; return 1; }
    dir=$(cd "$dir" && pwd -P) || { _pg_fail "cannot enter $1"; return 1; }
    if [[ -e $dir/data ]]; then
        _pg_fail "$dir/data already exists; pg_start_temp wants an empty folder (use pg_restart_temp for an existing one)"
        return 1
    fi
    bindir=$(pg_bindir) || { PG_TEMP_ERROR="no initdb/pg_ctl found (install the Debian packages postgresql and libpq-dev: scripts/bootstrap)"; return 1; }
    psql=$bindir/psql
    [[ -x $psql ]] || psql=$(command -v psql) || { _pg_fail "no psql found (Debian package postgresql-client)"; return 1; }

    if [[ $(id -u) -eq 0 ]]; then
        id -u postgres >/dev/null 2>&1 || { _pg_fail "running as root needs the system user 'postgres' (created by the Debian package postgresql)"; return 1; }
        _pg_runuser >/dev/null || { _pg_fail "running as root needs runuser (util-linux) to run the server as user postgres"; return 1; }
        chown postgres: "$dir" || { _pg_fail "cannot hand $dir to user postgres"; return 1; }
        chmod 0700 "$dir" || { _pg_fail "cannot chmod $dir"; return 1; }
        if ! _pg_as_owner test -w "$dir" -a -x "$dir"; then
            _pg_fail "user postgres cannot reach $dir (a parent folder is not searchable by it); use a folder under /tmp"
            return 1
        fi
    fi

    sockdir=$dir/sock
    if ((${#sockdir} + 16 > 107)); then
        sockdir=$(mktemp -d /tmp/pgsock.XXXXXX) || { _pg_fail "cannot create a socket folder under /tmp"; return 1; }
        echo "$sockdir" >"$dir/sockdir"
    fi
    mkdir -p "$sockdir" || { _pg_fail "cannot create $sockdir"; return 1; }
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$sockdir" || { _pg_fail "cannot hand $sockdir to user postgres"; return 1; }; fi

    password=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n') && [[ ${#password} -eq 32 ]] \
        || { _pg_fail "cannot read random bytes for the password"; return 1; }
    (umask 077 && printf '%s\n' "$password" >"$dir/password") || { _pg_fail "cannot write $dir/password"; return 1; }
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir/password" || { _pg_fail "cannot hand $dir/password to user postgres"; return 1; }; fi

    _pg_say "initdb $dir/data ($("$bindir/initdb" --version 2>/dev/null | awk '{print $NF}'), user alipay, scram-sha-256)"
    if ! (cd "$dir" && _pg_as_owner "$bindir/initdb" -D "$dir/data" -A scram-sha-256 --pwfile "$dir/password" -U alipay \
            -E UTF8 --no-locale) >"$dir/initdb.log" 2>&1; then
        echo "postgres: initdb output:" >&2
        tail -n 25 "$dir/initdb.log" | sed 's/^/    /' >&2
        _pg_fail "initdb failed in $dir/data (output in $dir/initdb.log)"
        return 1
    fi

    # The port is free when picked but may be taken before the server binds it: try a few.
    for attempt in 1 2 3 4 5; do
        port=$(free_port) || { _pg_fail "cannot pick a free port (free_port needs python3)"; return 1; }
        _pg_say "starting on 127.0.0.1:$port (socket $sockdir, log $dir/log)"
        if _pg_server_start "$dir" "$port"; then started=1; break; fi
        if ! grep -qiE 'could not (bind|create listen socket)|address already in use' "$dir/log" 2>/dev/null; then break; fi
        _pg_say "port $port was taken meanwhile; trying another (attempt $attempt)"
    done
    if ((!started)); then
        _pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -s -m immediate stop >/dev/null 2>&1 || true
        _pg_fail "the server did not start (pg_ctl start failed)" "$dir"
        return 1
    fi
    echo "$port" >"$dir/port" || { _pg_fail "cannot write $dir/port" "$dir"; return 1; }

    for database in alipay_notify alipay_notify_test; do
        if ! PGPASSWORD=$password PGCONNECT_TIMEOUT=10 "$psql" -X -q -v ON_ERROR_STOP=1 \
                -h 127.0.0.1 -p "$port" -U alipay -d postgres -c "CREATE DATABASE $database" >&2; then
            pg_stop_temp "$dir" immediate || true
            _pg_fail "the server started but CREATE DATABASE $database failed" "$dir"
            return 1
        fi
    done
    (umask 077 && printf 'postgres://alipay:%s@127.0.0.1:%s/alipay_notify?sslmode=disable\n' "$password" "$port" >"$dir/url") \
        || { pg_stop_temp "$dir" immediate || true; _pg_fail "cannot write $dir/url"; return 1; }
    _pg_say "ready: 127.0.0.1:$port, databases alipay_notify and alipay_notify_test (URL in $dir/url)"
}

pg_stop_temp() { # dir [fast|immediate|smart]
    local dir=${1:?usage: pg_stop_temp DIR [fast|immediate]} mode=${2:-fast} bindir
    PG_TEMP_ERROR=""
    case "$mode" in fast|immediate|smart) ;; *) _pg_fail "unknown stop mode '$mode' (fast, immediate or smart)"; return 1 ;; esac
    [[ -d $dir/data ]] || return 0
    bindir=$(pg_bindir) || { PG_TEMP_ERROR="no pg_ctl found"; return 1; }
    # pg_ctl status: 0 running, 3 not running, 4 no usable data folder.
    if ! (cd "$dir" && _pg_as_owner "$bindir/pg_ctl" -D "$dir/data" status) >/dev/null 2>&1; then return 0; fi
    _pg_say "stopping ($mode) the server in $dir"
    if ! (cd "$dir" && _pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -s -w -t 60 -m "$mode" stop) >&2; then
        _pg_fail "pg_ctl -m $mode stop failed for $dir/data" "$dir"
        return 1
    fi
}

pg_restart_temp() { # dir [immediate|fast]
    local dir=${1:?usage: pg_restart_temp DIR [immediate|fast]} mode=${2:-immediate} port
    PG_TEMP_ERROR=""
    [[ -s $dir/port && -d $dir/data ]] || { _pg_fail "$dir holds no cluster started by pg_start_temp (no $dir/port)"; return 1; }
    port=$(<"$dir/port")
    pg_stop_temp "$dir" "$mode" || return 1
    _pg_say "starting again on 127.0.0.1:$port"
    if ! _pg_server_start "$dir" "$port"; then
        _pg_fail "the server did not start again on port $port" "$dir"
        return 1
    fi
    _pg_say "ready again: 127.0.0.1:$port"
}

# Appends settings to the cluster's postgresql.conf (later lines win over earlier ones) and restarts the server
# (fast) on the same port, so that settings needing a restart (wal_level, archive_mode) take effect. The options
# _pg_server_start gives on the command line (port, socket, fsync, synchronous_commit, full_page_writes,
# max_connections) still win over the file.
pg_configure_temp() { # dir 'name = value'...
    local dir=${1:?usage: pg_configure_temp DIR 'name = value'...}
    shift
    PG_TEMP_ERROR=""
    [[ -f $dir/data/postgresql.conf ]] || { _pg_fail "$dir holds no cluster (no $dir/data/postgresql.conf)"; return 1; }
    (($#)) || return 0
    if ! { printf '\n# added by pg_configure_temp\n'; printf '%s\n' "$@"; } >>"$dir/data/postgresql.conf"; then
        _pg_fail "cannot append to $dir/data/postgresql.conf"
        return 1
    fi
    _pg_say "settings added to $dir/data/postgresql.conf: $*"
    pg_restart_temp "$dir" fast
}

# A crash of the server: SIGKILL to the postmaster, then waits (up to 60 s) until every process it had started is
# gone (backends and auxiliary processes leave when they notice its death) and reaped: a new postmaster refuses to
# start while the PID in the socket's lock file still exists, a zombie included (init may take a second to reap).
# postmaster.pid stays, as after a real crash; pg_restart_temp starts the cluster again (PostgreSQL recovers from its WAL).
pg_kill_temp() { # dir
    local dir=${1:?usage: pg_kill_temp DIR} pid children=() child alive
    PG_TEMP_ERROR=""
    [[ -s $dir/data/postmaster.pid ]] || { _pg_fail "no $dir/data/postmaster.pid: the server is not running"; return 1; }
    pid=$(head -1 "$dir/data/postmaster.pid")
    kill -0 "$pid" 2>/dev/null || { _pg_fail "the postmaster of $dir ($pid) is not running"; return 1; }
    mapfile -t children < <(pgrep -P "$pid" 2>/dev/null || true)
    _pg_say "kill -9 of the postmaster $pid of $dir (${#children[@]} child processes)"
    kill -9 "$pid" || { _pg_fail "kill -9 $pid failed"; return 1; }
    for _ in $(seq 1 600); do
        alive=0
        for child in "$pid" "${children[@]}"; do kill -0 "$child" 2>/dev/null && alive=1; done
        ((alive)) || return 0
        sleep 0.1
    done
    _pg_fail "processes of the killed server in $dir still run after 60 s: ${children[*]}"
    return 1
}

pg_remove_temp() { # dir: stop (fast) and remove DIR and, if one was needed, its socket folder under /tmp
    local dir=${1:?usage: pg_remove_temp DIR} sockdir=""
    [[ -d $dir ]] || return 0
    [[ -s $dir/sockdir ]] && sockdir=$(<"$dir/sockdir")
    pg_stop_temp "$dir" fast || pg_stop_temp "$dir" immediate || true
    rm -rf "$dir" ${sockdir:+"$sockdir"}
}
