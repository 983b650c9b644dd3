/* ipp/ipp.h — the public C API of libipp.
 *
 * Include this one header. It brings the error type (ipp/error.h) and the
 * client API: the Client and hub queries (ipp/client.h), DirectView and
 * LoadBalancedView (ipp/view.h), AsyncResult (ipp/result.h), and the limits
 * of a request (ipp/limits.h).
 */
#ifndef IPP_IPP_H
#define IPP_IPP_H

#include "ipp/client.h"
#include "ipp/error.h"
#include "ipp/limits.h"
#include "ipp/result.h"
#include "ipp/view.h"

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
