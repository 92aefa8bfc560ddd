# A streaming standby of a throwaway server (scripts/lib/postgres.sh), for the fail-over drill and test.
# Source it after postgres.sh:
#
#   pg_standby_start PRIMARY_DIR STANDBY_DIR [NAME]   pg_basebackup of the primary into STANDBY_DIR/data, started on a
#                                                    free port as a synchronous standby called NAME (default standby1):
#                                                    the primary commits only once NAME has the WAL (synchronous_commit=on)
#   pg_promote_temp DIR                              promote the standby in DIR (pg_ctl promote, waits)
#
# STANDBY_DIR gets the same layout as pg_start_temp's (data/, log, url, port, password). The standby's copy of the
# configuration names no synchronous standby of its own: once promoted it commits alone until a new standby is
# attached (docs: deploy/postgresql/README.md, "Fail-over").

pg_standby_start() { # primary_dir standby_dir [name]
    local primary=${1:?usage: pg_standby_start PRIMARY_DIR STANDBY_DIR [NAME]} dir=${2:?usage: pg_standby_start PRIMARY_DIR STANDBY_DIR [NAME]}
    local name=${3:-standby1} bindir password pport port attempt started=0 sockdir
    PG_TEMP_ERROR=""
    bindir=$(pg_bindir) || { PG_TEMP_ERROR="no pg_basebackup"; return 1; }
    password=$(<"$primary/password")
    pport=$(<"$primary/port")
    mkdir -p "$dir" && dir=$(cd "$dir" && pwd -P) || { _pg_fail "cannot create $2"; return 1; }
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir" && chmod 0700 "$dir" || { _pg_fail "cannot hand $dir to user postgres"; return 1; }; fi
    cp "$primary/password" "$dir/password"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$dir/password"; fi
    sockdir=$dir/sock
    if ((${#sockdir} + 16 > 107)); then sockdir=$(mktemp -d /tmp/pgsock.XXXXXX); echo "$sockdir" >"$dir/sockdir"; fi
    mkdir -p "$sockdir"
    if [[ $(id -u) -eq 0 ]]; then chown postgres: "$sockdir"; fi

    _pg_say "pg_basebackup of 127.0.0.1:$pport into $dir/data (standby $name)"
    if ! (cd "$dir" && _pg_as_owner env PGPASSWORD="$password" "$bindir/pg_basebackup" -h 127.0.0.1 -p "$pport" -U alipay \
            -D "$dir/data" -X stream -c fast -R) >"$dir/basebackup.log" 2>&1; then
        _pg_fail "pg_basebackup failed (output in $dir/basebackup.log)" "$dir"
        return 1
    fi
    # Later lines of postgresql.auto.conf win: the standby's name for the primary's synchronous_standby_names, and
    # no synchronous standby of its own.
    _pg_as_owner sh -c "cat >>'$dir/data/postgresql.auto.conf'" <<CONF
primary_conninfo = 'host=127.0.0.1 port=$pport user=alipay password=$password application_name=$name'
synchronous_standby_names = ''
CONF
    for attempt in 1 2 3 4 5; do
        port=$(free_port)
        _pg_say "starting standby $name on 127.0.0.1:$port (log $dir/log)"
        if _pg_server_start "$dir" "$port"; then started=1; break; fi
        grep -qiE 'could not (bind|create listen socket)|address already in use' "$dir/log" 2>/dev/null || break
    done
    ((started)) || { _pg_fail "the standby did not start" "$dir"; return 1; }
    echo "$port" >"$dir/port"
    printf 'postgres://alipay:%s@127.0.0.1:%s/alipay_notify?sslmode=disable\n' "$password" "$port" >"$dir/url"
    chmod 600 "$dir/url"
    # The primary waits for this standby from now on.
    PGPASSWORD=$password "$bindir/psql" -X -q -h 127.0.0.1 -p "$pport" -U alipay -d postgres \
        -c "ALTER SYSTEM SET synchronous_standby_names = 'FIRST 1 ($name)'" -c "SELECT pg_reload_conf()" >/dev/null \
        || { _pg_fail "cannot set synchronous_standby_names on the primary" "$primary"; return 1; }
    local state=""
    for attempt in $(seq 1 100); do
        state=$(PGPASSWORD=$password "$bindir/psql" -X -At -h 127.0.0.1 -p "$pport" -U alipay -d postgres \
            -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = '$name'" 2>/dev/null)
        [[ $state == sync ]] && break
        sleep 0.1
    done
    [[ $state == sync ]] || { _pg_fail "standby $name is not synchronous (state '$state')" "$dir"; return 1; }
    _pg_say "standby $name streaming, synchronous, on 127.0.0.1:$port"
}

pg_promote_temp() { # dir
    local dir=${1:?usage: pg_promote_temp DIR} bindir
    bindir=$(pg_bindir) || return 1
    (cd "$dir" && _pg_as_owner "$bindir/pg_ctl" -D "$dir/data" -s -w -t 60 promote) >&2 || { _pg_fail "pg_ctl promote failed" "$dir"; return 1; }
}
