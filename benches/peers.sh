#!/usr/bin/env bash
# Installs htscodecs (Debian package libhtscodecs-dev) if needed, then runs the peer
# benchmark (benches/peers.rs, cargo feature `peers`) and prints, in markdown, the date,
# the CPU and the load beside the table, ready for docs/BENCHMARKS.md.
#
#   benches/peers.sh                      # book1 and kennedy.xls, 11 runs
#   PEERS_RUNS=21 PEERS_FILES=a:b benches/peers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
if [ ! -e /usr/include/htscodecs/rANS_static4x16.h ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq libhtscodecs-dev >/dev/null
fi
cargo build --release --features peers --bench peers >&2
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
# The model name alone can hide which core it is (a VM may say only "Xeon Processor"):
# family, model and the widest vector extension too.
cpu_id="family $(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -1) model $(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo | head -1)"
if grep -qw avx512f /proc/cpuinfo; then cpu_id="$cpu_id, AVX-512"; elif grep -qw avx2 /proc/cpuinfo; then cpu_id="$cpu_id, AVX2"; fi
echo "- cpu: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1) ($cpu_id), $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- rustc: $(rustc --version); htscodecs: $(dpkg-query -W -f '${Version}' libhtscodecs-dev 2>/dev/null || echo '?'); zstd (zstd-sys): $(cargo tree --features peers -e normal -i zstd-sys --depth 0 2>/dev/null | head -1)"
echo
cargo bench --features peers --bench peers 2>/dev/null
