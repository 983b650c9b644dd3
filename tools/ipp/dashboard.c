/* dashboard.c — `ipp dashboard`: runs ipp-dashboard, the dashboard's own
 * process (tools/dashboard/), in place of this one.
 *
 * The dashboard is a program of its own because it is a long-lived server
 * linking an HTTP server, Graphviz and the database reader, none of which
 * the command line needs; this file only finds it — beside this program
 * (installed), in the build tree's tools/dashboard/, else on PATH — and
 * execs it with the global --profile/--connection. Never returns on
 * success.
 */
#include "tools/ipp/cli.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// s_find: the path of ipp-dashboard into buf; false if none was found
// beside this program (then PATH is tried).
static bool s_find(char *buf, size_t size)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *dir = dirname(self);
    static const char *const rel[] = {"ipp-dashboard", "../dashboard/ipp-dashboard"};
    for (size_t i = 0; i < sizeof rel / sizeof *rel; i++) {
        if ((size_t)snprintf(buf, size, "%s/%s", dir, rel[i]) < size && access(buf, X_OK) == 0)
            return true;
    }
    return false;
}

int cli_cmd_dashboard(cli_t *cli, int argc, char **argv)
{
    char path[PATH_MAX + 64];
    bool found = s_find(path, sizeof path);
    char **args = calloc((size_t)argc + 4, sizeof *args);
    if (!args) {
        cli_error("out of memory");
        return CLI_FAILED;
    }
    int k = 0;
    args[k++] = found ? path : "ipp-dashboard";
    if (cli->connection) {
        args[k++] = "--connection";
        args[k++] = (char *)cli->connection;
    }
    for (int i = 1; i < argc; i++)
        args[k++] = argv[i];
    args[k] = NULL;
    // The profile goes in the environment: an explicit --profile after
    // `dashboard` still wins, and --db alone stays offline.
    setenv("IPP_PROFILE", cli->profile, 1);
    fflush(stdout);
    if (found)
        execv(path, args);
    else
        execvp("ipp-dashboard", args);
    cli_error("cannot run ipp-dashboard (%s): %s", found ? path : "not beside ipp nor on PATH",
              strerror(errno));
    free(args);
    return CLI_FAILED;
}
