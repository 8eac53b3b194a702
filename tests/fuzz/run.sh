#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
# Run one libFuzzer harness for $FUZZ_SECONDS from the seed corpus.
#   run.sh HARNESS SEED_DIR WORK_DIR
# New inputs and any crashing input go to WORK_DIR; the seed corpus in the
# repository is only read.  Exit status: libFuzzer's (0: nothing found).
set -eu
harness=$1 seeds=$2 work=$3
mkdir -p "$work/corpus"
exec "$harness" -max_total_time="${FUZZ_SECONDS:-30}" -timeout=10 -error_exitcode=1 \
	-rss_limit_mb=2048 -print_final_stats=1 \
	-artifact_prefix="$work/" "$work/corpus" "$seeds"
