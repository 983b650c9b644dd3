/* testutil.c — the temporary folders of the unit suites (see testutil.h). */
#include "testutil.h"

#include <check.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void tu_tmpdir(char *buf, size_t size, const char *name)
{
    const char *base = getenv("TMPDIR");
    int n = snprintf(buf, size, "%s/ipp-%s.XXXXXX", base && base[0] ? base : "/tmp", name);
    ck_assert_msg(n > 0 && (size_t)n < size, "temporary folder name too long");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp %s: %s", buf, strerror(errno));
}

// s_remove: nftw's callback; remove one entry (children come first).
static int s_remove(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int tu_rmtree(const char *path)
{
    if (nftw(path, s_remove, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return errno == ENOENT ? 0 : -1;
    return 0;
}

int tu_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
