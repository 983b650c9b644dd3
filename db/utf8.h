/* db/utf8.h — the db folder's one UTF-8 decoder.
 *
 * Internal to db/. Well-formed UTF-8 as RFC 3629 defines it: no overlong
 * forms, no UTF-16 surrogates (U+D800..U+DFFF), nothing past U+10FFFF, no
 * sequence cut short. The JSON escaper, the stored-text cleaner (db/sql.c)
 * and the `$glob` matcher (db/fnmatch.c) all decide with it, so they never
 * disagree about which bytes are characters. Stateless; never allocates.
 */
#ifndef IPP_DB_UTF8_H
#define IPP_DB_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// db_utf8_decode: the length (1 to 4) of the well-formed sequence at
// s[0..n), storing its code point in *cp (cp may be NULL); 0 when the
// bytes there are not one (n == 0, a continuation byte, an overlong form,
// a surrogate, a value past U+10FFFF, or a sequence longer than n).
size_t db_utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

// db_utf8_valid: true if s[0..n) is well-formed UTF-8 throughout.
bool db_utf8_valid(const char *s, size_t n);

#endif
