#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Before/after check of the ports in upstream/patches/ (what `make upstream-check`
# is to run once the tooling takes its pin from upstream/VERSION).
#
#   upstream/check.sh TREE PYTHON [PATCH...]
#
# TREE: a git checkout of the pinned release whose root commit is tagged
# $VLLM_TAG (upstream/VERSION), with the release's compiled kernels
# (vllm/*.so) and vllm/_version.py as untracked files. PYTHON: an interpreter
# with the release's requirements (CPU or CUDA torch) and pytest.
#
# For each patch, in series order, in a scratch worktree of TREE:
#   before: the release + the earlier ports + only this patch's test files
#           -> the tests must fail (the earlier ports fix other defects; they
#           are there so that the test files apply)
#   after:  the release + the series up to this patch  -> the tests must pass
# With PATCH names, only those patches are checked (the earlier ones are
# still applied). The tests of each patch are listed in upstream/TESTS. Prints a Markdown
# table (port, before, after) and exits 1 unless every port failed before
# and passed after.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tree=$(cd "$1" && pwd)
python=$2
shift 2
only=" $* "
tag=$(sed -n 's/^VLLM_TAG=//p' "$here/VERSION")

export VLLM_TARGET_DEVICE=cpu OMP_NUM_THREADS=2 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
git_() { git -c core.hooksPath=/dev/null -c commit.gpgSign=false "$@"; }

scratch=$(mktemp -d "${TMPDIR:-/tmp}/upstream-check.XXXXXX")
work="$scratch/tree"
cleanup() {
    git_ -C "$tree" worktree remove --force "$work" >/dev/null 2>&1 || true
    rm -rf "$scratch"
}
trap cleanup EXIT
git_ -C "$tree" worktree add -q --detach "$work" "$tag"
for f in "$tree"/vllm/*.so "$tree"/vllm/_version.py; do
    ln -s "$f" "$work/vllm/$(basename "$f")"
done

# pytest's last line (the summary), or "error: ..." when it did not run.
run_tests() {
    local args=$1 out
    out=$(cd "$work" && PYTHONPATH="$work" timeout 1200 "$python" -m pytest -q \
        -p no:cacheprovider $args 2>&1 | tail -n 1) || true
    echo "${out//=/}" | sed 's/^ *//; s/ in [0-9.]*s.*$//; s/, [0-9]* warnings\?//'
}

status=0
echo "| port | before (without the fix) | after (with the fix) |"
echo "|---|---|---|"
mapfile -t patches < <(ls "$here"/patches/*.patch)
for i in "${!patches[@]}"; do
    patch=${patches[$i]}
    name=$(basename "$patch")
    if [ "$only" != "  " ] && [[ "$only" != *" $name "* ]]; then
        continue
    fi
    args=$(sed -n "s/^$name: //p" "$here/TESTS")
    if [ -z "$args" ]; then
        echo "| $name | no tests listed in upstream/TESTS | |"
        status=1
        continue
    fi
    # before: the earlier ports and only this patch's test files
    git_ -C "$work" checkout -q --force "$tag"
    for p in "${patches[@]:0:$i}"; do
        git_ -C "$work" apply "$p"
    done
    git_ -C "$work" apply --include='tests/*' "$patch"
    before=$(run_tests "$args")
    # after: the rest of this patch
    git_ -C "$work" apply --exclude='tests/*' "$patch"
    after=$(run_tests "$args")
    git_ -C "$work" checkout -q --force "$tag"
    git_ -C "$work" clean -q -fd -e '*.so' -e _version.py
    echo "| $name | $before | $after |"
    case "$before" in *failed*|*error*) ;; *) status=1 ;; esac
    case "$after" in *failed*|*error*|*skipped*|"") status=1 ;; *passed*) ;; *) status=1 ;; esac
done
exit $status
