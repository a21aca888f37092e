#!/usr/bin/env bash
# Run one cargo-fuzz target for a while, its corpus seeded from the shared fixtures.
# usage: scripts/fuzz.sh TARGET [SECONDS]   (default 600)
#   TARGET: analyze_dxf (wjp-geometry), csv_analysis or image_to_dxf (wjp-convert)
# Needs a nightly toolchain and cargo-fuzz. One job, 2 GiB RSS and 10 s per input:
# the machine is shared, and anything slower or bigger than that is a finding.
# The corpus (fuzz/corpus/TARGET) and crashes (fuzz/artifacts/TARGET) stay out of git;
# a run's log goes to fuzz/artifacts/TARGET/last-run.log. Extra arguments after
# SECONDS go to libFuzzer (for example -seed=1).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:?usage: scripts/fuzz.sh TARGET [SECONDS] [LIBFUZZER_ARGS...]}
seconds=${2:-600}
shift $(( $# >= 2 ? 2 : 1 ))
fixtures=${WJP_FIXTURES:-../shared/fixtures}
# Extra libFuzzer flags per target. DXF fixtures reach 900 KB: without a cap
# libFuzzer would mutate inputs that large and run a fraction as fast.
case "$target" in
  analyze_dxf) crate=wjp-geometry; seeds=("$fixtures"/dxf/*.dxf); extra=(-max_len=262144) ;;
  csv_analysis) crate=wjp-convert; seeds=("$fixtures"/csv/*.csv); extra=() ;;
  image_to_dxf) crate=wjp-convert; seeds=("$fixtures"/images/*); extra=() ;;
  *) echo "unknown target $target (analyze_dxf, csv_analysis, image_to_dxf)" >&2; exit 2 ;;
esac
dir=crates/$crate/fuzz
corpus=$dir/corpus/$target
mkdir -p "$corpus" "$dir/artifacts/$target"
# Copies, never links: libFuzzer may rewrite or delete corpus files.
cp "${seeds[@]}" "$corpus"/
# Formats no fixture covers, so the fuzzer does not have to invent their headers.
case "$target" in
  csv_analysis)
    printf 'ID,Layer,Group,Area_mm2,Perimeter_mm,Selected\n1,OUTER,A,100.5,40,true\n2,INNER,A,0,3,no\n' \
      >"$corpus/seed_component.csv" ;;
  image_to_dxf)
    # A 4 x 4 24-bit BMP: a dark 2 x 2 square on white.
    {
      printf 'BM\x66\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00'
      printf '\x28\x00\x00\x00\x04\x00\x00\x00\x04\x00\x00\x00\x01\x00\x18\x00'
      printf '\x00\x00\x00\x00\x30\x00\x00\x00\x13\x0b\x00\x00\x13\x0b\x00\x00'
      printf '\x00\x00\x00\x00\x00\x00\x00\x00'
      w='\xff\xff\xff' k='\x00\x00\x00'
      printf "$w$w$w$w$w$k$k$w$w$k$k$w$w$w$w$w"
    } >"$corpus/seed_square.bmp" ;;
esac
cd "$dir"
log=artifacts/$target/last-run.log
cargo +nightly fuzz run "$target" "corpus/$target" -- \
  -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
  "${extra[@]}" "$@" 2>&1 | tee "$log"
