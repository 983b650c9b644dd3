#!/bin/sh
# test_install.sh BUILD_DIR CC [EXTRA_CFLAGS] — install the build into a
# temporary prefix and use it as a user would: compile, link and run a
# program that uses libipp through pkg-config alone (the installed
# headers, library and ipp.pc must be enough), and run a task with the
# installed ipp, ipp-controller and ipp-engine found on $PATH.
#
# The temporary prefix is not a directory the dynamic loader searches, so
# the user program needs LD_LIBRARY_PATH there (checked: without it, it
# does not start, and the install says so). Installed into a directory the
# loader searches (/usr/local/lib), as root, the install runs ldconfig and
# no LD_LIBRARY_PATH is needed: checked with an ldconfig that claims the
# temporary lib directory and records its calls, so the system's loader
# cache is never touched.
set -eu
build=$1
cc=$2
extra=${3:-}
dir=$(mktemp -d /tmp/ipp-install-XXXXXX)
prefix=$dir/prefix
cleanup() {
    if [ -f "$dir/ipp/profile_default/ipp-controller.pid" ]; then
        IPP_DIR=$dir/ipp "$prefix/bin/ipp" cluster stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "test_install: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >"$dir/install.out"
test -x "$prefix/bin/ipp-controller"
test -x "$prefix/bin/ipp-engine"
test -x "$prefix/bin/ipp"
test -x "$prefix/bin/ipp-query"
pc=$(find "$prefix" -name ipp.pc)
test -n "$pc"
libdir=$(dirname "$(dirname "$pc")")
test -e "$libdir/libipp.so.0" || fail "no libipp.so.0 in $libdir"
grep -q "is not searched by the dynamic loader: start programs linked with libipp with LD_LIBRARY_PATH=$libdir" \
    "$dir/install.out" || fail "the install did not say LD_LIBRARY_PATH is needed:
$(cat "$dir/install.out")"

cat > "$dir/user.c" <<'C'
#include <ipp/ipp.h>
#include <stdio.h>
#include <string.h>
int main(void)
{
    ipp_error_t err;
    // Without a controller: a clear error, not a crash.
    ipp_client_t *c = ipp_client_connect("/nonexistent/ipp-client.json", 1, &err);
    if (c || err.code != IPP_ERR_NOT_FOUND || !strstr(err.msg, "/nonexistent")) {
        fprintf(stderr, "unexpected: %s\n", err.msg);
        return 1;
    }
    printf("libipp %s, protocol %d, %s\n", ipp_version(), ipp_protocol_version(),
           ipp_strerror(IPP_ERR_BAD_MAC));
    return 0;
}
C
PKG_CONFIG_PATH=$(dirname "$pc")
export PKG_CONFIG_PATH
# shellcheck disable=SC2046,SC2086
"$cc" -Wall -Wextra -Werror $extra -o "$dir/user" "$dir/user.c" $(pkg-config --cflags --libs ipp)
# Outside the loader's directories: not found without LD_LIBRARY_PATH ...
if env -u LD_LIBRARY_PATH "$dir/user" >"$dir/user.out" 2>&1; then
    fail "the user program started without LD_LIBRARY_PATH: is $libdir a system directory?"
fi
grep -q "libipp.so.0" "$dir/user.out" || fail "unexpected failure: $(cat "$dir/user.out")"
# ... and found with it.
out=$(LD_LIBRARY_PATH=$libdir "$dir/user")
echo "$out"
case "$out" in
  "libipp 0.1.0, protocol 1, message signature missing or invalid") ;;
  *) fail "unexpected output" ;;
esac

# Into a directory the loader searches: ldconfig runs when root, else the
# install says to run it.
cat > "$dir/ldconfig" <<SH
#!/bin/sh
if [ "\$*" = "-v -N -X" ]; then
    echo "$libdir: (from a test)"
    exit 0
fi
echo "called:\$*" >> "$dir/ldconfig.log"
SH
chmod +x "$dir/ldconfig"
IPP_LDCONFIG=$dir/ldconfig cmake --install "$build" --prefix "$prefix" >"$dir/install.out"
if [ "$(id -u)" -eq 0 ]; then
    test "$(cat "$dir/ldconfig.log" 2>/dev/null)" = "called:" ||
        fail "ldconfig was not run (log: $(cat "$dir/ldconfig.log" 2>/dev/null))"
    grep -q "ran ldconfig" "$dir/install.out" || fail "$(cat "$dir/install.out")"
else
    test ! -e "$dir/ldconfig.log" || fail "ldconfig run by a user who is not root"
    grep -q "run ldconfig as root" "$dir/install.out" || fail "$(cat "$dir/install.out")"
fi
# Not under DESTDIR: a package's scripts run ldconfig on the target.
rm -f "$dir/ldconfig.log"
DESTDIR=$dir/stage IPP_LDCONFIG=$dir/ldconfig cmake --install "$build" --prefix "$prefix" >/dev/null
test ! -e "$dir/ldconfig.log" || fail "ldconfig run for a DESTDIR install"

# The installed commands, found on $PATH: a cluster, a task, the audit.
PATH=$prefix/bin:$PATH
IPP_DIR=$dir/ipp
export PATH IPP_DIR
ipp cluster start -n 1 >/dev/null
out=$(ipp run --wait -- echo installed)
test "$out" = "installed" || fail "ipp run printed '$out'"
ipp-query verify >/dev/null || fail "ipp-query verify failed"
ipp cluster stop >/dev/null
echo "installed tree ok"
