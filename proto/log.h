/* log.h — a logger passed by pointer to whatever needs one.
 *
 * There is no global logger: main owns an ipp_logger_t and hands a pointer
 * to the objects it creates. A NULL logger is valid and writes warnings and
 * errors to stderr, so library code never has to check.
 */
#ifndef IPP_PROTO_LOG_H
#define IPP_PROTO_LOG_H

#include <stdio.h>

typedef enum {
    IPP_LOG_ERROR = 0,
    IPP_LOG_WARN = 1,
    IPP_LOG_INFO = 2,
    IPP_LOG_DEBUG = 3,
} ipp_log_level_t;

typedef struct ipp_logger_t {
    ipp_log_level_t level;  // messages above this level are dropped
    FILE *out;              // where lines go; NULL means stderr
    const char *who;        // process name put on every line ("controller")
} ipp_logger_t;

// ipp_log: write one line "ISO-time who LEVEL message" if level passes.
void ipp_log(const ipp_logger_t *lg, ipp_log_level_t level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

// ipp_log_level_parse: "error|warn|info|debug" → level; returns -1 if unknown.
int ipp_log_level_parse(const char *name);

#define IPP_LOGE(lg, ...) ipp_log((lg), IPP_LOG_ERROR, __VA_ARGS__)
#define IPP_LOGW(lg, ...) ipp_log((lg), IPP_LOG_WARN, __VA_ARGS__)
#define IPP_LOGI(lg, ...) ipp_log((lg), IPP_LOG_INFO, __VA_ARGS__)
#define IPP_LOGD(lg, ...) ipp_log((lg), IPP_LOG_DEBUG, __VA_ARGS__)

#endif
