/* testutil.h — what many unit suites need: a fresh temporary folder per
 * test and a way to remove it again.
 *
 * Linked into every unit suite (ipp_unit_test in the top CMakeLists). Only
 * for tests: failures end the test through Check's assertions.
 */
#ifndef IPP_TESTUTIL_H
#define IPP_TESTUTIL_H

#include <stddef.h>

// tu_tmpdir: create a new empty folder $TMPDIR/ipp-NAME.XXXXXX (TMPDIR
// defaults to /tmp) and write its path into buf (size bytes). Fails the
// test when it cannot.
void tu_tmpdir(char *buf, size_t size, const char *name);

// tu_rmtree: remove path and everything below it, never following
// symbolic links. Returns 0, or -1 when something could not be removed
// (a missing path counts as removed).
int tu_rmtree(const char *path);

#endif
