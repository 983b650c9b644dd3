/* assets.h — the web/ files embedded in the binary at build time (the
 * generated assets.c, from embed.cmake). Read-only data; nothing is read
 * from disk or the network at run time.
 */
#ifndef IPP_TOOLS_DASHBOARD_ASSETS_H
#define IPP_TOOLS_DASHBOARD_ASSETS_H

#include <stddef.h>

typedef struct dash_asset_t {
    const char *name;           // file name under web/ ("app.js")
    const char *type;           // its Content-Type
    const unsigned char *data;  // its bytes
    size_t size;                // how many
} dash_asset_t;

// dash_asset_find: the embedded file called name, or NULL.
const dash_asset_t *dash_asset_find(const char *name);

#endif
