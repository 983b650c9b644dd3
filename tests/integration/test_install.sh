#!/bin/sh
# test_install.sh BUILD_DIR CC [EXTRA_CFLAGS] — install the build into a
# temporary prefix, then compile, link and run a program that uses libipp
# through pkg-config alone: the installed headers, library and ipp.pc must
# be enough.
set -eu
build=$1
cc=$2
extra=${3:-}
dir=$(mktemp -d /tmp/ipp-install-XXXXXX)
trap 'rm -rf "$dir"' EXIT
cmake --install "$build" --prefix "$dir/prefix" >/dev/null
test -x "$dir/prefix/bin/ipp-controller"
test -x "$dir/prefix/bin/ipp-engine"
test -x "$dir/prefix/bin/ipp"
test -x "$dir/prefix/bin/ipp-query"
pc=$(find "$dir/prefix" -name ipp.pc)
test -n "$pc"
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
out=$(LD_LIBRARY_PATH=$(dirname "$(dirname "$pc")") "$dir/user")
echo "$out"
case "$out" in
  "libipp 0.1.0, protocol 1, message signature missing or invalid") ;;
  *) echo "unexpected output" >&2; exit 1 ;;
esac
