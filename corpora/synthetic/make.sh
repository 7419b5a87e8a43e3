#!/bin/sh
# Regenerates every file of corpora/synthetic from its command (run from the
# repository root). The bytes depend only on the seed and the pinned generator, and
# tests/sources.rs checks that the library still makes exactly these files.
set -eu
S="cargo run --release --quiet --"
cd "$(dirname "$0")/../.."
D=corpora/synthetic
$S generate bernoulli --p 0.9 --length 100000 --seed 1 -f -o $D/coin-0.9.txt
$S generate bernoulli --p 0.9 --packed --length 640000 --seed 2 -f -o $D/coin-0.9.packed
$S generate iid --probs "a:0.5,b:0.25,c:0.125,d:0.125" --length 100000 --seed 3 -f -o $D/iid-abcd.txt
$S generate zipf --alphabet 256 --exponent 1 --length 100000 --seed 4 -f -o $D/zipf-256-1.0.bin
$S generate markov --order 1 --train corpora/canterbury/alice29.txt --length 100000 --seed 5 -f -o $D/alice-order1.txt
$S generate markov --order 3 --train corpora/canterbury/alice29.txt --length 100000 --seed 6 -f -o $D/alice-order3.txt
