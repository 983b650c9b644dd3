/* db/utf8.c — decoding UTF-8, strictly.
 *
 * Owns nothing. The lead byte says the length and the payload bits; the
 * range checks afterwards refuse the forms RFC 3629 forbids, so a caller
 * that gets a length back may copy those bytes as one character.
 */
#include "db/utf8.h"

size_t db_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (n == 0)
        return 0;
    unsigned char c = s[0];
    if (c < 0x80) {
        if (cp)
            *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v;
    // 0xC0 and 0xC1 could only start overlong forms of ASCII; 0xF5 and up
    // only values past U+10FFFF.
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
        v = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        v = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        v = c & 0x07;
    } else {
        return 0;
    }
    if (len > n)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        v = (v << 6) | (s[i] & 0x3F);
    }
    if ((len == 3 && v < 0x800) || (len == 4 && (v < 0x10000 || v > 0x10FFFF)) ||
        (v >= 0xD800 && v <= 0xDFFF))
        return 0;
    if (cp)
        *cp = v;
    return len;
}

bool db_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = db_utf8_decode(p + i, n - i, NULL);
        if (!k)
            return false;
        i += k;
    }
    return true;
}
