/* log.c — line logger.
 *
 * One formatted write per line so lines from several threads do not
 * interleave. Owns nothing; never allocates.
 */
#include "proto/log.h"

#include "proto/clock.h"

#include <stdarg.h>
#include <string.h>
#include <strings.h>

static const char *s_level_names[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void ipp_log(const ipp_logger_t *lg, ipp_log_level_t level, const char *fmt, ...)
{
    ipp_log_level_t max = lg ? lg->level : IPP_LOG_WARN;
    if (level > max)
        return;
    FILE *out = (lg && lg->out) ? lg->out : stderr;
    char stamp[40];
    ipp_clock_format_iso(ipp_clock_now_us(), stamp, sizeof stamp);
    char line[2048];
    int n = snprintf(line, sizeof line, "%s %s %s ", stamp, (lg && lg->who) ? lg->who : "ipp",
                     s_level_names[level]);
    if (n < 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (m < 0) ? (size_t)n : strnlen(line, sizeof line - 1);
    line[len++] = '\n';
    fwrite(line, 1, len, out);
    fflush(out);
}

int ipp_log_level_parse(const char *name)
{
    for (int i = 0; i < 4; i++)
        if (name && strcasecmp(name, s_level_names[i]) == 0)
            return i;
    if (name && strcasecmp(name, "warning") == 0)
        return IPP_LOG_WARN;
    return -1;
}
