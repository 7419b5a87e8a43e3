#!/usr/bin/env bash
# Whole-file compressed sizes of the Canterbury and Calgary corpora: gzip -9, bzip2 -9,
# xz -9e, zstd -19, brotli -q 11, 7-Zip PPMd (-m0=PPMd -mx=9, a .7z archive: its size
# includes about 100-150 bytes of archive headers), and shannon with its default codec,
# adaptive order 5, and static order-0 rANS. Prints a markdown table (bytes; the last
# row sums each column). Installs the missing tools from Debian packages.
#
#   benches/ratios.sh [DIR...]      # default: corpora/canterbury corpora/calgary
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
for t in gzip:gzip bzip2:bzip2 xz:xz-utils zstd:zstd brotli:brotli; do
    command -v "${t%%:*}" >/dev/null || need+=("${t#*:}")
done
command -v 7zz >/dev/null || command -v 7z >/dev/null || need+=(7zip)
if [ ${#need[@]} -gt 0 ]; then
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
SEVENZ=$(command -v 7zz || command -v 7z)
cargo build --release >&2
SHANNON=target/release/shannon
dirs=("$@")
[ ${#dirs[@]} -gt 0 ] || dirs=(corpora/canterbury corpora/calgary)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

ppmd() {
    rm -f "$tmp/a.7z"
    "$SEVENZ" a -bd -bso0 -bsp0 -m0=PPMd -mx=9 "$tmp/a.7z" "$1" >/dev/null
    stat -c %s "$tmp/a.7z"
}

cols=(gzip bzip2 xz zstd brotli ppmd ours_default ours_adaptive5 ours_static0_rans)
echo "| file | size | gzip -9 | bzip2 -9 | xz -9e | zstd -19 | brotli -q 11 | 7z PPMd | shannon default | shannon adaptive o5 | shannon static o0 rANS |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
declare -A sum
for d in "${dirs[@]}"; do
    for f in $(find "$d" -maxdepth 1 -type f ! -name '*.md' | sort); do
        size=$(stat -c %s "$f")
        vals=(
            "$(gzip -9 -c "$f" | wc -c)"
            "$(bzip2 -9 -c "$f" | wc -c)"
            "$(xz -9e -c "$f" | wc -c)"
            "$(zstd -19 -q -c "$f" | wc -c)"
            "$(brotli -q 11 -c "$f" | wc -c)"
            "$(ppmd "$f")"
            "$("$SHANNON" compress -q -c "$f" | wc -c)"
            "$("$SHANNON" compress -q -c --model adaptive --order 5 "$f" | wc -c)"
            "$("$SHANNON" compress -q -c --model static --order 0 --coder rans "$f" | wc -c)"
        )
        sum[size]=$(( ${sum[size]:-0} + size ))
        line="| $(basename "$d")/$(basename "$f") | $size"
        for i in "${!cols[@]}"; do
            sum[${cols[$i]}]=$(( ${sum[${cols[$i]}]:-0} + ${vals[$i]} ))
            line+=" | ${vals[$i]}"
        done
        echo "$line |"
    done
done
line="| **total** | ${sum[size]}"
for c in "${cols[@]}"; do line+=" | ${sum[$c]}"; done
echo "$line |"
