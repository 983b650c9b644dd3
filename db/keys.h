/* db/keys.h — the Curve keys table: who may connect, in which role.
 *
 * One row per key: a NAME given once (a revoked name stays taken, so the
 * tasks it submitted stay its own), its role (client, engine, admin), its
 * public key (Z85, 40 characters), when it was made, last seen by a
 * controller, and revoked. Secret keys are never stored here: they live
 * only in the connection file `ipp keys new` writes for the key's holder.
 *
 * Written by `ipp keys` (new, revoke) on its own connection and by the
 * controller's writer (last seen, DB_OP_KEY_SEEN); read by the controller
 * at start and when told a key changed (hub/keys.c).
 */
#ifndef IPP_DB_KEYS_H
#define IPP_DB_KEYS_H

#include "ipp/error.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DB_KEY_NAME_MAX 64  // bytes of a key name, at most
#define DB_KEY_Z85_LEN 40   // a Curve public key in Z85

typedef enum db_role_t {
    DB_ROLE_NONE = 0,    // not a role (a parse failure)
    DB_ROLE_CLIENT = 1,  // submits and queries; aborts, purges, resubmits its own tasks
    DB_ROLE_ENGINE = 2,  // speaks the engine protocol only
    DB_ROLE_ADMIN = 3,   // a client that may act on anyone's tasks, clear and shut down
} db_role_t;

// A key as stored.
typedef struct db_curve_key_t {
    char name[DB_KEY_NAME_MAX + 1];       // its name
    db_role_t role;                       // its role
    char public_key[DB_KEY_Z85_LEN + 1];  // Z85 public key
    int64_t created;                      // µs UTC
    int64_t last_seen;                    // µs UTC, 0 = never
    int64_t revoked;                      // µs UTC, 0 = in force
} db_curve_key_t;

// db_role_name: "client", "engine", "admin", or "none". Static string.
const char *db_role_name(db_role_t role);
// db_role_parse: the role called name, DB_ROLE_NONE if none is.
db_role_t db_role_parse(const char *name);

// db_keys_name_ok: is name a valid key name (1..DB_KEY_NAME_MAX of
// letters, digits, '.', '_', '-', not starting with '.' or '-')?
bool db_keys_name_ok(const char *name);

// db_keys_add: record k (name, role, public key, created). Errors:
// IPP_ERR_INVALID for a bad name, role or key, or a name or public key
// already recorded (revoked or not), with a message naming it; IPP_ERR_DB.
ipp_err_t db_keys_add(sqlite3 *db, const db_curve_key_t *k, ipp_error_t *err);

// db_keys_revoke: mark key name revoked at when (a key already revoked
// keeps its first date). IPP_ERR_NOT_FOUND when there is no such key.
ipp_err_t db_keys_revoke(sqlite3 *db, const char *name, int64_t when, ipp_error_t *err);

// db_keys_get: key name into *out. IPP_ERR_NOT_FOUND when there is none.
ipp_err_t db_keys_get(sqlite3 *db, const char *name, db_curve_key_t *out, ipp_error_t *err);

// db_keys_list: every key, by name, into a malloc'd array *out (caller
// frees; NULL when there are none) of *n entries.
ipp_err_t db_keys_list(sqlite3 *db, db_curve_key_t **out, size_t *n, ipp_error_t *err);

// The statement that records a key as seen: ?1 name, ?2 when (µs); the
// writer keeps it prepared (DB_OP_KEY_SEEN).
#define DB_KEYS_SEEN_SQL                                                                           \
    "UPDATE keys SET last_seen = ?2 WHERE name = ?1 AND coalesce(last_seen, 0) < ?2"

#endif
