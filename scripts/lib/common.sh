# Helpers shared by the scripts that start the daemons on loopback (demo, chaos, soak, benchmarks).
# Source it: `source "$(dirname "$0")/lib/common.sh"` (or `…/../lib/common.sh` from scripts/bench).

# A TCP port free on 127.0.0.1 right now.
# A port free on 127.0.0.1 now, chosen below the kernel's ephemeral range (scripts/lib/ports.py says why).
free_port() { python3 "$(dirname "${BASH_SOURCE[0]}")/ports.py"; }

# Throwaway 2048-bit keys in DIR: the app's pair (app.pem, app_public.pem) and a stand-in for Alipay's
# (alipay.pem, alipay_public.pem). Does nothing when DIR already holds them.
make_test_keys() {
    local dir="$1"
    [[ -f $dir/alipay_public.pem ]] && return 0
    mkdir -p "$dir"
    openssl genrsa -out "$dir/app.pem" 2048 2>/dev/null
    openssl rsa -in "$dir/app.pem" -pubout -out "$dir/app_public.pem" 2>/dev/null
    openssl genrsa -out "$dir/alipay.pem" 2048 2>/dev/null
    openssl rsa -in "$dir/alipay.pem" -pubout -out "$dir/alipay_public.pem" 2>/dev/null
}
