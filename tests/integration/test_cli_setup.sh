#!/bin/sh
# test_cli_setup.sh SOURCE_DIR — tools/setup run by a user who is not root,
# on a machine without sudo, with packages missing: it must say what to
# do (run it as root, or install sudo) and which packages, and install
# nothing. `id` and `dpkg-query` are replaced by scripts that answer
# "uid 1000" and "nothing installed"; $PATH holds nothing else but grep.
set -eu
src=$(cd "$1" && pwd)
dir=$(mktemp -d /tmp/ipp-setup-XXXXXX)
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/bin"
printf '#!/bin/sh\necho 1000\n' >"$dir/bin/id"
printf '#!/bin/sh\nexit 1\n' >"$dir/bin/dpkg-query"
chmod +x "$dir/bin/id" "$dir/bin/dpkg-query"
ln -s "$(command -v grep)" "$dir/bin/grep"
rc=0
PATH=$dir/bin /bin/sh "$src/tools/setup" >"$dir/out" 2>&1 || rc=$?
cat "$dir/out"
fail() { echo "test_cli_setup: $*" >&2; exit 1; }
test "$rc" -eq 1 || fail "exit $rc, wanted 1"
grep -q "not found" "$dir/out" && fail "a bare 'not found'"
grep -q "sudo is not installed: run tools/setup as" "$dir/out" || fail "no advice"
grep -q "root" "$dir/out" || fail "does not say to run it as root"
grep -q "apt-get install .*libzmq3-dev" "$dir/out" || fail "does not list the packages"
echo "test_cli_setup: ok"
