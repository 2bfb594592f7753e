#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS each (default 60), one after
# another, and prints a table: target, executions, coverage at the start and at
# the end of the run, and crashes (panics, timeouts, OOMs) found.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# Each target starts from its committed corpus; new inputs go to a scratch
# corpus (target/fuzz-run/<target>/ in fuzz/, emptied first), never to the
# committed one: trim before committing (fuzz/README.md).
# Crashes are written to fuzz/artifacts/<target>/. Needs cargo-fuzz and a
# nightly toolchain. FUZZ_SANITIZER (default none: the Sotto crates forbid
# unsafe code, so what the fuzzer looks for is panics) is passed to
# `cargo fuzz --sanitizer`. Runs under `nice -n 10`: the machine may be shared.
set -euo pipefail

secs=${1:-60}
shift || true
sanitizer=${FUZZ_SANITIZER:-none}
cd "$(dirname "$0")/../fuzz"

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    # In the order Cargo.toml declares them.
    mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' Cargo.toml | tail -n +2)
fi

# The largest input each target can make use of: the size classes above
# libFuzzer's default of 4096 bytes (onion requests 96 KiB, responses and
# their frames 1 MiB, envelopes 64 KiB), plus the harness's flags byte.
max_len() {
    case "$1" in
        onion_peel | onion_response | rpc_response | p2p_frame | node_request | node_response)
            echo $((1024 * 1024 + 8)) ;;
        onion_routing | onion_request | rpc_request) echo $((96 * 1024 + 8)) ;;
        envelope_open | envelope_inner | client_content | prekey_bundle | envelope_v2 | ratchet_message)
            echo $((64 * 1024 + 8)) ;;
        *) echo 4096 ;;
    esac
}

nice -n 10 cargo +nightly fuzz build --sanitizer "$sanitizer" >&2

work=target/fuzz-run
mkdir -p "$work"
rows=()
failed=0
for t in "${targets[@]}"; do
    # Each run starts from the committed corpus alone.
    rm -rf "${work:?}/$t"
    mkdir -p "$work/$t" "artifacts/$t" "$work/tmp-$t"
    log="$work/$t.log"
    before=$(find "artifacts/$t" -type f | wc -l)
    echo "fuzzing $t for ${secs}s (log: fuzz/$log)" >&2
    rc=0
    # TMPDIR: the client target keeps its Messenger's home there.
    TMPDIR="$PWD/$work/tmp-$t" nice -n 10 cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" \
        "$work/$t" "corpus/$t" -- \
        -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=30 \
        -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || rc=$?
    rm -rf "$work/tmp-$t"
    after=$(find "artifacts/$t" -type f | wc -l)
    crashes=$((after - before))
    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        crashes="rc=$rc"
    fi
    [ "$crashes" = 0 ] || failed=1
    execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    cov_start=$(grep -m1 -o 'INITED cov: [0-9]*' "$log" | grep -o '[0-9]*$' || true)
    cov_end=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    ft_end=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$' || true)
    rows+=("$(printf '| %-16s | %12s | %15s | %8s | %-7s |' "$t" "${execs:-?}" \
        "${cov_start:-?} -> ${cov_end:-?}" "${ft_end:-?}" "$crashes")")
done

printf '\nfuzz.sh: %s s per target, sanitizer %s\n\n' "$secs" "$sanitizer"
printf '| %-16s | %12s | %15s | %8s | %-7s |\n' target executions "coverage" features crashes
printf '|%s|%s|%s|%s|%s|\n' ------------------ -------------- ----------------- ---------- ---------
printf '%s\n' "${rows[@]}"
exit "$failed"
