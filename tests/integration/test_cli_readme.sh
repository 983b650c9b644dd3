#!/bin/sh
# test_cli_readme.sh BUILD_DIR SOURCE_DIR — the README's "Using it" section,
# run as a newcomer would: from the clone, in a fresh shell where ipp is
# not on $PATH, every command of its sh blocks in order, the first one
# being the README's own way of putting the build's commands on $PATH
# (with BUILD_DIR for its build/). Each must exit 0. The cluster it starts
# lives in a temporary $IPP_DIR and is stopped whatever happens.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
dir=$(mktemp -d /tmp/ipp-readme-XXXXXX)
IPP_DIR=$dir/ipp
TMPDIR=$dir
export IPP_DIR TMPDIR
cleanup() {
    if [ -f "$IPP_DIR/profile_default/ipp-controller.pid" ]; then
        "$build/tools/ipp/ipp" cluster stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
# The sh blocks between "## Using it" and the next section.
awk '/^## /{on = ($0 == "## Using it")} on && /^```/{code = !code; next} on && code' \
    "$src/README.md" | sed "s|\$PWD/build/|$build/|g" >"$dir/commands"
test -s "$dir/commands" || { echo "no commands under '## Using it'" >&2; exit 1; }
# A shell as a newcomer has it: no ipp on PATH.
PATH=$(echo "$PATH" | tr ':' '\n' | grep -v "^$build" | paste -sd: -)
cd "$src"
n=0
while IFS= read -r line; do
    case "$line" in "" | "#"*) continue ;; esac
    n=$((n + 1))
    echo "\$ $line"
    if ! eval "$line" </dev/null >"$dir/out" 2>&1; then
        cat "$dir/out"
        echo "test_cli_readme: README command failed: $line" >&2
        exit 1
    fi
    head -c 2000 "$dir/out"
done <"$dir/commands"
echo "test_cli_readme: $n README commands ran"
