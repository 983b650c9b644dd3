/* ipp/limits.h — limits of a task request that the controller enforces.
 *
 * Shared by libipp, the `ipp` command line and the controller, so a
 * request over a limit fails the same way before it is sent as when a
 * client that does not check sends it anyway (docs/PROTOCOL.md).
 */
#ifndef IPP_LIMITS_H
#define IPP_LIMITS_H

/* IPP_RETRIES_MAX: the most further attempts a task may ask for after a
 * failed one. A task that fails for good would otherwise run without end;
 * more is refused with IPP_ERR_INVALID ("retries: at most 100"). */
#define IPP_RETRIES_MAX 100

#endif
