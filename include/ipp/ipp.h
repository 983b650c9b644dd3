/* ipp/ipp.h — the public C API of libipp.
 *
 * Include this one header. It brings the error type (ipp/error.h); the
 * client API (Client, views, AsyncResult) is declared in the headers it
 * includes as they are added.
 */
#ifndef IPP_IPP_H
#define IPP_IPP_H

#include "ipp/error.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IPP_VERSION_MAJOR 0
#define IPP_VERSION_MINOR 1
#define IPP_VERSION_PATCH 0

/* ipp_version: the library's version as "MAJOR.MINOR.PATCH"; static. */
const char *ipp_version(void);

/* ipp_protocol_version: the wire protocol version this library speaks. */
int ipp_protocol_version(void);

#ifdef __cplusplus
}
#endif
#endif
