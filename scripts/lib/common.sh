# Helpers shared by the scripts that start the daemons on loopback (demo, chaos, soak, benchmarks).
# Source it: `source "$(dirname "$0")/lib/common.sh"` (or `…/../lib/common.sh` from scripts/bench).

# A TCP port free on 127.0.0.1 right now.
# A port free on 127.0.0.1 now, chosen below the kernel's ephemeral range (32768-60999): the outgoing connections of
# whatever else runs take ephemeral ports, and one of them could take a port the kernel had just handed out here.
free_port() {
    python3 -c '
import random, socket
for _ in range(100):
    port = random.randint(20000, 32767)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        s.close()
    print(port)
    break
else:
    raise SystemExit("free_port: no free port in 20000-32767")'
}

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
