/* version.c — what libipp reports about itself. Constant data only. */
#include "ipp/ipp.h"
#include "proto/ipp.pb-c.h"

const char *ipp_version(void)
{
    return "0.1.0";
}

int ipp_protocol_version(void)
{
    return IPP__VERSION__PROTOCOL_VERSION;
}
