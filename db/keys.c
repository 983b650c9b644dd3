/* db/keys.c — the Curve keys table (see keys.h).
 *
 * Owns nothing past a call; every statement is prepared, bound and
 * finalized inside the function that runs it. Never stores a secret key.
 */
#include "db/keys.h"

#include "db/sql.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

static const char *const s_roles[] = {
    [DB_ROLE_NONE] = "none",
    [DB_ROLE_CLIENT] = "client",
    [DB_ROLE_ENGINE] = "engine",
    [DB_ROLE_ADMIN] = "admin",
};

const char *db_role_name(db_role_t role)
{
    if ((int)role < 0 || role > DB_ROLE_ADMIN)
        return "none";
    return s_roles[role];
}

db_role_t db_role_parse(const char *name)
{
    for (int r = DB_ROLE_CLIENT; name && r <= DB_ROLE_ADMIN; r++)
        if (strcmp(name, s_roles[r]) == 0)
            return (db_role_t)r;
    return DB_ROLE_NONE;
}

bool db_keys_name_ok(const char *name)
{
    if (!name || !name[0] || strlen(name) > DB_KEY_NAME_MAX || name[0] == '.' || name[0] == '-')
        return false;
    for (const char *p = name; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '_' || *p == '-'))
            return false;
    return true;
}

// s_z85_ok: is text a 40-character Z85 key?
static bool s_z85_ok(const char *text)
{
    uint8_t raw[32];
    return text && strlen(text) == DB_KEY_Z85_LEN && zmq_z85_decode(raw, text) != NULL;
}

// s_row: the key in the current row of st (name, role, public_key,
// created, last_seen, revoked) into out.
static void s_row(sqlite3_stmt *st, db_curve_key_t *out)
{
    memset(out, 0, sizeof *out);
    const char *name = (const char *)sqlite3_column_text(st, 0);
    const char *pub = (const char *)sqlite3_column_text(st, 2);
    snprintf(out->name, sizeof out->name, "%s", name ? name : "");
    out->role = db_role_parse((const char *)sqlite3_column_text(st, 1));
    snprintf(out->public_key, sizeof out->public_key, "%s", pub ? pub : "");
    out->created = sqlite3_column_int64(st, 3);
    out->last_seen = sqlite3_column_int64(st, 4);
    out->revoked = sqlite3_column_int64(st, 5);
}

#define S_COLS "name, role, public_key, created, last_seen, revoked"

ipp_err_t db_keys_add(sqlite3 *db, const db_curve_key_t *k, ipp_error_t *err)
{
    if (!db_keys_name_ok(k->name))
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "key name \"%s\": use 1 to %d letters, digits, '.', '_', '-' "
                             "(not first: '.', '-')",
                             k->name, DB_KEY_NAME_MAX);
    if (k->role == DB_ROLE_NONE || (int)k->role > DB_ROLE_ADMIN)
        return ipp_error_set(err, IPP_ERR_INVALID, "key %s: the role is client, engine or admin",
                             k->name);
    if (!s_z85_ok(k->public_key))
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "key %s: the public key is not a 40-character Z85 key", k->name);
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db,
                                "INSERT INTO keys (name, role, public_key, created) "
                                "VALUES (?1, ?2, ?3, ?4)",
                                -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, k->name, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, db_role_name(k->role), -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, k->public_key, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, k->created);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_CONSTRAINT)
        return ipp_error_set(err, IPP_ERR_INVALID,
                             "a key named %s (or with the same public key) is already "
                             "recorded; a name is given once, even after a revocation",
                             k->name);
    if (rc != SQLITE_DONE)
        return db_sql_fail(err, db, rc, "recording key %s", k->name);
    return IPP_OK;
}

ipp_err_t db_keys_revoke(sqlite3 *db, const char *name, int64_t when, ipp_error_t *err)
{
    db_curve_key_t k;
    ipp_err_t code = db_keys_get(db, name, &k, err);
    if (code != IPP_OK)
        return code;
    if (k.revoked)
        return IPP_OK;
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "UPDATE keys SET revoked = ?2 WHERE name = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, when > 0 ? when : 1);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_sql_fail(err, db, rc, "revoking key %s", name);
    return IPP_OK;
}

ipp_err_t db_keys_get(sqlite3 *db, const char *name, db_curve_key_t *out, ipp_error_t *err)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, "SELECT " S_COLS " FROM keys WHERE name = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, name ? name : "", -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            s_row(st, out);
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_ROW)
        return IPP_OK;
    if (rc == SQLITE_DONE)
        return ipp_error_set(err, IPP_ERR_NOT_FOUND, "no key named %s", name ? name : "");
    return db_sql_fail(err, db, rc, "reading key %s", name ? name : "");
}

ipp_err_t db_keys_list(sqlite3 *db, db_curve_key_t **out, size_t *n, ipp_error_t *err)
{
    *out = NULL;
    *n = 0;
    size_t cap = 0;
    sqlite3_stmt *st = NULL;
    ipp_err_t code = IPP_OK;
    int rc = sqlite3_prepare_v2(db, "SELECT " S_COLS " FROM keys ORDER BY name", -1, &st, NULL);
    while (rc == SQLITE_OK || rc == SQLITE_ROW) {
        if ((rc = sqlite3_step(st)) != SQLITE_ROW)
            break;
        if (*n == cap) {
            cap = cap ? cap * 2 : 16;
            db_curve_key_t *v = realloc(*out, cap * sizeof *v);
            if (!v) {
                code = ipp_error_set(err, IPP_ERR_NOMEM, "out of memory listing keys");
                goto out;
            }
            *out = v;
        }
        s_row(st, &(*out)[(*n)++]);
    }
    if (rc != SQLITE_DONE)
        code = db_sql_fail(err, db, rc, "listing keys");
out:
    sqlite3_finalize(st);
    if (code != IPP_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return code;
}
