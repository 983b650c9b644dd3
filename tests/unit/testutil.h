/* testutil.h — what many unit suites need: a fresh temporary folder per
 * test and a way to remove it again; a suite's main.
 *
 * Linked into every unit suite (ipp_unit_test in the top CMakeLists). Only
 * for tests: failures end the test through Check's assertions.
 */
#ifndef IPP_TESTUTIL_H
#define IPP_TESTUTIL_H

#include <check.h>
#include <stddef.h>

// tu_tmpdir: create a new empty folder $TMPDIR/ipp-NAME.XXXXXX (TMPDIR
// defaults to /tmp) and write its path into buf (size bytes). Fails the
// test when it cannot.
void tu_tmpdir(char *buf, size_t size, const char *name);

// tu_rmtree: remove path and everything below it, never following
// symbolic links. Returns 0, or -1 when something could not be removed
// (a missing path counts as removed).
int tu_rmtree(const char *path);

// tu_run: run every test of s (taken: freed here) and return main's exit
// status: 0 when all passed, else 1.
int tu_run(Suite *s);

#endif
