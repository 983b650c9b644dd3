/* keys.c — Curve in the controller: the server key, the table of known
 * keys, the ZAP handler, the check of every message's key, the role
 * permissions, and the refusal counts.
 *
 * Owns hub->keys and hub->keys_by_pub (the entries), hub->zap_sock and
 * hub->refused_logged. The ZAP handler runs on the event loop: libzmq
 * asks it over inproc and waits for the answer without blocking its I/O
 * threads, and the answer comes from the in-memory table only — this file
 * reads the task store at start and when told a key changed
 * (KEYS_RELOAD_REQUEST: one indexed read per key named, on the WAL
 * reader, which never waits for the writer), and never writes it but
 * through the writer (last seen). Must never let a message of an unknown
 * or revoked key reach a handler.
 */
#include "hub/hub.h"

#include "db/reader.h"
#include "proto/clock.h"
#include "proto/codec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

// How often a key's last_seen is written, at most.
#define S_SEEN_EVERY_US (60LL * 1000000)
// Distinct refusals logged; past it they are only counted.
#define S_LOGGED_MAX 4096
// The owner's admin key: its pair goes into ipp-client.json.
#define S_OWNER "owner"
#define S_OWNER_KEY_FILE "curve-owner.key"

static const char *const s_refusal_names[HUB_REFUSE__N] = {
    [HUB_REFUSE_UNKNOWN] = "unknown key",
    [HUB_REFUSE_SOCKET] = "wrong socket",
    [HUB_REFUSE_REVOKED] = "revoked",
    [HUB_REFUSE_DENIED] = "not permitted",
};

const char *hub_refusal_name(hub_refusal_t why)
{
    return (int)why >= 0 && why < HUB_REFUSE__N ? s_refusal_names[why] : "?";
}

// ------------------------------------------------------------- setup

// s_register_owner: record the owner's admin key in the task store unless
// a key of that name is there (a revoked owner stays revoked).
static ipp_err_t s_register_owner(hub_t *hub, const char *pub, ipp_error_t *err)
{
    sqlite3 *db = db_schema_open(hub->cfg.db_path, DB_OPEN_READWRITE, hub->log, err);
    if (!db)
        return err->code;
    db_curve_key_t k;
    ipp_error_t e;
    ipp_err_t rc = db_keys_get(db, S_OWNER, &k, &e);
    if (rc == IPP_ERR_NOT_FOUND) {
        memset(&k, 0, sizeof k);
        snprintf(k.name, sizeof k.name, S_OWNER);
        k.role = DB_ROLE_ADMIN;
        snprintf(k.public_key, sizeof k.public_key, "%s", pub);
        k.created = ipp_clock_now_us();
        rc = db_keys_add(db, &k, err);
        if (rc == IPP_OK)
            IPP_LOGI(hub->log, "curve: recorded the profile owner's admin key \"%s\"", S_OWNER);
    } else if (rc == IPP_OK && strcmp(k.public_key, pub) != 0) {
        IPP_LOGW(hub->log,
                 "curve: key \"%s\" in %s has another public key than %s/security/%s: "
                 "ipp-client.json will be refused",
                 S_OWNER, hub->cfg.db_path, hub->cfg.profile_dir, S_OWNER_KEY_FILE);
    } else if (rc != IPP_OK) {
        *err = e;
    }
    sqlite3_close_v2(db);
    return rc;
}

ipp_err_t hub_keys_setup(hub_t *hub, ipp_error_t *err)
{
    conn_info_t *cc = &hub->client_conn, *ec = &hub->engine_conn;
    // Whatever an older connection file said: this run decides.
    cc->curve_server_key[0] = ec->curve_server_key[0] = '\0';
    memset(cc->curve_secret_key, 0, sizeof cc->curve_secret_key);
    cc->curve_public_key[0] = cc->key_name[0] = '\0';
    ec->curve_public_key[0] = ec->curve_secret_key[0] = ec->key_name[0] = '\0';
    if (!hub->cfg.curve)
        return IPP_OK;
    ipp_err_t rc = conn_curve_check("ipp-controller --curve", err);
    if (rc != IPP_OK)
        return rc;
    char path[1200], pub[41];
    snprintf(path, sizeof path, "%s/security/%s", hub->cfg.profile_dir, CONN_SERVER_KEY_FILE);
    if ((rc = conn_keypair_load(path, true, pub, hub->curve_secret, err)) != IPP_OK)
        return rc;
    memcpy(cc->curve_server_key, pub, sizeof pub);
    memcpy(ec->curve_server_key, pub, sizeof pub);
    snprintf(path, sizeof path, "%s/security/%s", hub->cfg.profile_dir, S_OWNER_KEY_FILE);
    if ((rc = conn_keypair_load(path, true, cc->curve_public_key, cc->curve_secret_key, err)) !=
        IPP_OK)
        return rc;
    snprintf(cc->key_name, sizeof cc->key_name, S_OWNER);
    if ((rc = s_register_owner(hub, cc->curve_public_key, err)) != IPP_OK)
        return rc;
    hub->keys = ipp_strmap_new();
    hub->keys_by_pub = ipp_strmap_new();
    hub->refused_logged = ipp_strmap_new();
    hub->engine_keys = ipp_strmap_new();
    if (!hub->keys || !hub->keys_by_pub || !hub->refused_logged || !hub->engine_keys)
        return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the key table");
    // The handler is bound before any socket: with none, libzmq would let
    // every Curve client in.
    hub->zap_sock = zmq_socket(hub->zctx, ZMQ_REP);
    int zero = 0;
    if (!hub->zap_sock || zmq_setsockopt(hub->zap_sock, ZMQ_LINGER, &zero, sizeof zero) != 0 ||
        zmq_bind(hub->zap_sock, "inproc://zeromq.zap.01") != 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "cannot start the ZAP handler: %s",
                             zmq_strerror(zmq_errno()));
    return IPP_OK;
}

ipp_err_t hub_keys_socket(hub_t *hub, void *sock, const char *domain, ipp_error_t *err)
{
    if (!hub->cfg.curve)
        return IPP_OK;
    int one = 1;
    if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
        zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, hub->curve_secret, 40) != 0 ||
        zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0)
        return ipp_error_set(err, IPP_ERR_ZMQ, "cannot make the %s socket a Curve server: %s",
                             domain, zmq_strerror(zmq_errno()));
    return IPP_OK;
}

// ------------------------------------------------------------- the table

// s_put: insert or update the entry for k.
static ipp_err_t s_put(hub_t *hub, const db_curve_key_t *k, ipp_error_t *err)
{
    hub_key_t *e = ipp_strmap_get(hub->keys, k->name);
    if (e && strcmp(e->public_key, k->public_key) != 0) {
        // Not possible through `ipp keys` (a name is given once); if the
        // file was edited, the old public key must stop working too.
        ipp_strmap_del(hub->keys_by_pub, e->public_key);
        snprintf(e->public_key, sizeof e->public_key, "%s", k->public_key);
        if (ipp_strmap_put(hub->keys_by_pub, e->public_key, e) < 0)
            return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the key table");
    }
    if (!e) {
        e = calloc(1, sizeof *e);
        if (!e)
            return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the key table");
        snprintf(e->name, sizeof e->name, "%s", k->name);
        snprintf(e->public_key, sizeof e->public_key, "%s", k->public_key);
        if (ipp_strmap_put(hub->keys, e->name, e) < 0) {
            free(e);
            return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the key table");
        }
        // A public key already listed under another name (an edited file)
        // stays with the first: put refuses the second.
        if (ipp_strmap_put(hub->keys_by_pub, e->public_key, e) < 0)
            return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the key table");
    }
    bool was = e->revoked;
    e->role = k->role;
    e->revoked = k->revoked != 0;
    if (e->revoked && !was)
        IPP_LOGI(hub->log, "curve: key %s (%s) is revoked: its connections are refused from now",
                 e->name, db_role_name(e->role));
    return IPP_OK;
}

// s_drop: forget the entry called name (no longer in the store).
static void s_drop(hub_t *hub, const char *name)
{
    hub_key_t *e = ipp_strmap_del(hub->keys, name);
    if (!e)
        return;
    if (ipp_strmap_get(hub->keys_by_pub, e->public_key) == e)
        ipp_strmap_del(hub->keys_by_pub, e->public_key);
    if (hub->peer == e)
        hub->peer = NULL;
    free(e);
}

typedef struct {
    char (*names)[DB_KEY_NAME_MAX + 1];
    size_t n;
} s_names_t;

static void s_collect(void *arg, const char *key, void *value)
{
    (void)value;
    s_names_t *v = arg;
    snprintf(v->names[v->n++], DB_KEY_NAME_MAX + 1, "%s", key);
}

ipp_err_t hub_keys_load(hub_t *hub, const char *const *names, size_t n, int *loaded,
                        ipp_error_t *err)
{
    *loaded = 0;
    if (!hub->cfg.curve || !hub->keys)
        return IPP_OK;
    sqlite3 *db = db_reader_sqlite(hub_store_reader(hub->store));
    ipp_err_t rc = IPP_OK;
    if (names) {
        for (size_t i = 0; i < n && rc == IPP_OK; i++) {
            db_curve_key_t k;
            ipp_error_t e;
            ipp_err_t r = db_keys_get(db, names[i], &k, &e);
            if (r == IPP_OK) {
                rc = s_put(hub, &k, err);
                (*loaded)++;
            } else if (r == IPP_ERR_NOT_FOUND) {
                s_drop(hub, names[i]);
            } else {
                *err = e;
                rc = r;
            }
        }
        return rc;
    }
    db_curve_key_t *all = NULL;
    size_t count = 0;
    if ((rc = db_keys_list(db, &all, &count, err)) != IPP_OK)
        return rc;
    // Names no longer in the store go; the others are put again.
    s_names_t gone = {NULL, 0};
    size_t have = ipp_strmap_count(hub->keys);
    if (have && !(gone.names = calloc(have, sizeof *gone.names))) {
        free(all);
        return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for the key table");
    }
    if (have)
        ipp_strmap_each(hub->keys, s_collect, &gone);
    for (size_t i = 0; i < gone.n; i++) {
        bool kept = false;
        for (size_t j = 0; j < count && !kept; j++)
            kept = strcmp(all[j].name, gone.names[i]) == 0;
        if (!kept)
            s_drop(hub, gone.names[i]);
    }
    for (size_t j = 0; j < count && rc == IPP_OK; j++)
        rc = s_put(hub, &all[j], err);
    *loaded = (int)count;
    free(gone.names);
    free(all);
    return rc;
}

static void s_free_entry(void *arg, const char *key, void *value)
{
    (void)arg;
    (void)key;
    free(value);
}

void hub_keys_free(hub_t *hub)
{
    if (hub->keys)
        ipp_strmap_each(hub->keys, s_free_entry, NULL);
    ipp_strmap_destroy(&hub->keys);
    ipp_strmap_destroy(&hub->keys_by_pub);
    if (hub->refused_logged)
        ipp_strmap_each(hub->refused_logged, s_free_entry, NULL);
    ipp_strmap_destroy(&hub->refused_logged);
    if (hub->engine_keys)
        ipp_strmap_each(hub->engine_keys, s_free_entry, NULL);
    ipp_strmap_destroy(&hub->engine_keys);
    memset(hub->curve_secret, 0, sizeof hub->curve_secret);
    hub->peer = NULL;
}

void hub_keys_engine_registered(hub_t *hub, const char *uuid)
{
    if (!hub->engine_keys || !hub->peer || !uuid)
        return;
    // One entry per uuid, kept while the controller runs (a few bytes per
    // engine that ever registered); a new registration replaces it.
    hub_engine_key_t *ek = ipp_strmap_del(hub->engine_keys, uuid);
    if (!ek && !(ek = calloc(1, sizeof *ek))) {
        IPP_LOGW(hub->log, "curve: no memory to remember engine %s's key", uuid);
        return;
    }
    snprintf(ek->uuid, sizeof ek->uuid, "%s", uuid);
    snprintf(ek->name, sizeof ek->name, "%s", hub->peer->name);
    if (ipp_strmap_put(hub->engine_keys, ek->uuid, ek) != 0) {
        IPP_LOGW(hub->log, "curve: no memory to remember engine %s's key", uuid);
        free(ek);
    }
}

// ------------------------------------------------------------- refusals

void hub_refused(hub_t *hub, hub_refusal_t why, const char *key, const char *peer, const char *what)
{
    if ((int)why < 0 || why >= HUB_REFUSE__N)
        return;
    hub->refusals[why]++;
    if (!hub->refused_logged)
        return;
    char tag[256];
    snprintf(tag, sizeof tag, "%d|%s|%s", (int)why, key ? key : "-", peer ? peer : "-");
    if (ipp_strmap_get(hub->refused_logged, tag))
        return;
    size_t n = ipp_strmap_count(hub->refused_logged);
    if (n > S_LOGGED_MAX)
        return;
    char *copy = strdup(tag);
    if (n == S_LOGGED_MAX || !copy || ipp_strmap_put(hub->refused_logged, copy, copy) != 0) {
        if (copy && n == S_LOGGED_MAX) {
            ipp_strmap_put(hub->refused_logged, copy, copy);  // once past the limit
            IPP_LOGW(hub->log,
                     "curve: %d different refusals logged; more are only counted "
                     "(ipp status)",
                     S_LOGGED_MAX);
        } else {
            free(copy);
        }
        return;
    }
    IPP_LOGW(hub->log, "curve: refused (%s): key %s from %s: %s", s_refusal_names[why],
             key ? key : "-", peer && peer[0] ? peer : "?", what);
}

// s_seen: queue the key's last_seen when it was not written lately.
static void s_seen(hub_t *hub, hub_key_t *k)
{
    int64_t now = ipp_clock_mono_us();
    if (k->seen_queued && now - k->seen_queued < S_SEEN_EVERY_US)
        return;
    k->seen_queued = now;
    hub_store_key_seen(hub->store, k->name, ipp_clock_now_us());
}

// ------------------------------------------------------------- ZAP

// s_domain_admits: may a key of role connect to the socket of domain?
static bool s_domain_admits(const char *domain, size_t len, db_role_t role)
{
    if (len == 6 && memcmp(domain, "engine", 6) == 0)
        return role == DB_ROLE_ENGINE;
    if ((len == 6 && memcmp(domain, "client", 6) == 0) ||
        (len == 6 && memcmp(domain, "notify", 6) == 0))
        return role == DB_ROLE_CLIENT || role == DB_ROLE_ADMIN;
    return false;
}

// s_zap_reply: answer one ZAP request.
static void s_zap_reply(void *sock, zmq_msg_t *request_id, const char *code, const char *text,
                        const char *user)
{
    zmq_send(sock, "1.0", 3, ZMQ_SNDMORE);
    zmq_send(sock, zmq_msg_data(request_id), zmq_msg_size(request_id), ZMQ_SNDMORE);
    zmq_send(sock, code, strlen(code), ZMQ_SNDMORE);
    zmq_send(sock, text, strlen(text), ZMQ_SNDMORE);
    zmq_send(sock, user, strlen(user), ZMQ_SNDMORE);
    zmq_send(sock, "", 0, 0);
}

// s_zap_one: receive and answer one request; false when none waits.
static bool s_zap_one(hub_t *hub)
{
    enum { S_FRAMES = 8 };
    zmq_msg_t f[S_FRAMES];
    size_t n = 0;
    for (int more = 1; more;) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, hub->zap_sock, n == 0 ? ZMQ_DONTWAIT : 0) < 0) {
            zmq_msg_close(&m);
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&f[i]);
            return false;
        }
        more = zmq_msg_more(&m);
        if (n < S_FRAMES)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    // version, request id, domain, address, routing id, mechanism, credentials
    if (n < 2) {
        zmq_msg_t none;
        zmq_msg_init(&none);
        s_zap_reply(hub->zap_sock, n ? &f[0] : &none, "500", "malformed request", "");
        zmq_msg_close(&none);
        goto out;
    }
    const char *domain = n > 2 ? zmq_msg_data(&f[2]) : "";
    size_t dlen = n > 2 ? zmq_msg_size(&f[2]) : 0;
    char addr[64] = "";
    if (n > 3)
        snprintf(addr, sizeof addr, "%.*s", (int)zmq_msg_size(&f[3]), (char *)zmq_msg_data(&f[3]));
    bool curve = n > 6 && zmq_msg_size(&f[5]) == 5 &&
                 memcmp(zmq_msg_data(&f[5]), "CURVE", 5) == 0 && zmq_msg_size(&f[6]) == 32;
    if (!curve) {
        s_zap_reply(hub->zap_sock, &f[1], "400", "Curve keys only", "");
        goto out;
    }
    char pub[41];
    zmq_z85_encode(pub, zmq_msg_data(&f[6]), 32);
    hub_key_t *k = ipp_strmap_get(hub->keys_by_pub, pub);
    char where[32];
    snprintf(where, sizeof where, "%.*s socket", (int)(dlen < 16 ? dlen : 16), domain);
    if (!k) {
        hub_refused(hub, HUB_REFUSE_UNKNOWN, pub, addr, where);
        s_zap_reply(hub->zap_sock, &f[1], "400", "unknown key", "");
    } else if (k->revoked) {
        hub_refused(hub, HUB_REFUSE_REVOKED, k->name, addr, where);
        s_zap_reply(hub->zap_sock, &f[1], "400", "revoked key", "");
    } else if (!s_domain_admits(domain, dlen, k->role)) {
        char what[96];
        snprintf(what, sizeof what, "a %s key on the %s", db_role_name(k->role), where);
        hub_refused(hub, HUB_REFUSE_SOCKET, k->name, addr, what);
        s_zap_reply(hub->zap_sock, &f[1], "400", "key not allowed on this socket", "");
    } else {
        s_seen(hub, k);
        s_zap_reply(hub->zap_sock, &f[1], "200", "OK", k->name);
    }
out:
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
    return true;
}

void hub_keys_zap(hub_t *hub)
{
    if (!hub->zap_sock)
        return;
    for (int i = 0; i < HUB_BATCH && s_zap_one(hub); i++)
        ;
}

// ------------------------------------------------------------- messages

bool hub_keys_check(hub_t *hub, void *sock, wire_msg_t *msg)
{
    hub->peer = NULL;
    if (!hub->cfg.curve)
        return true;
    if (msg->n_frames <= msg->n_idents)
        return false;
    zmq_msg_t *f = &msg->frames[msg->n_idents];
    const char *uid = zmq_msg_gets(f, "User-Id");
    const char *addr = zmq_msg_gets(f, "Peer-Address");
    hub_key_t *k = uid ? ipp_strmap_get(hub->keys, uid) : NULL;
    bool engine_sock = sock == hub->engine_sock;
    hub_refusal_t why = HUB_REFUSE_UNKNOWN;
    if (k && k->revoked)
        why = HUB_REFUSE_REVOKED;
    else if (k && (k->role == DB_ROLE_ENGINE) != engine_sock)
        why = HUB_REFUSE_SOCKET;  // ZAP's domains make this impossible: defence in depth
    else if (k) {
        hub->peer = k;
        s_seen(hub, k);
        return true;
    }
    const char *what = msg->header ? wire_type_name(wire_msg_type(msg)) : "a message";
    hub_refused(hub, why, uid ? uid : "-", addr, what);
    if (msg->header) {
        wire_frame_t id[1];
        size_t n = wire_msg_idents(msg, id, 1);
        hub_reply_error(hub, sock, n ? id : NULL, msg->header->msg_id, IPP_ERR_DENIED, NULL,
                        "permission denied: key %s %s", uid ? uid : "-",
                        why == HUB_REFUSE_REVOKED  ? "is revoked"
                        : why == HUB_REFUSE_SOCKET ? "may not use this socket"
                                                   : "is not known to the controller");
    }
    return false;
}

// s_deny: answer ident's request parent with IPP_ERR_DENIED and count it.
static void s_deny(hub_t *hub, const wire_frame_t *ident, const char *parent, const char *what,
                   const char *text)
{
    const char *addr = NULL;
    if (hub->in.n_frames > hub->in.n_idents)
        addr = zmq_msg_gets(&hub->in.frames[hub->in.n_idents], "Peer-Address");
    hub_refused(hub, HUB_REFUSE_DENIED, hub->peer->name, addr, what);
    hub_reply_error(hub, hub->client_sock, ident, parent, IPP_ERR_DENIED, NULL,
                    "permission denied: %s", text);
}

bool hub_permit_admin(hub_t *hub, const wire_frame_t *ident, const char *parent, const char *what)
{
    if (!hub->peer || hub->peer->role == DB_ROLE_ADMIN)
        return true;
    char text[256];
    snprintf(text, sizeof text, "%s needs the admin role; key %s is a %s key", what,
             hub->peer->name, db_role_name(hub->peer->role));
    s_deny(hub, ident, parent, what, text);
    return false;
}

bool hub_permit_task(hub_t *hub, const wire_frame_t *ident, const char *parent, const char *what,
                     const char *msg_id, const char *by, bool by_key)
{
    if (!hub->peer || hub->peer->role == DB_ROLE_ADMIN)
        return true;
    if (by_key && by && strcmp(by, hub->peer->name) == 0)
        return true;
    char text[400];
    snprintf(text, sizeof text,
             "%s of task %s needs the admin role: it was submitted by %s%s, not by key %s", what,
             msg_id, by && by[0] ? by : "nobody known",
             by && by[0] && !by_key ? " (self-declared)" : "", hub->peer->name);
    s_deny(hub, ident, parent, what, text);
    return false;
}

// ------------------------------------------------------------- reload

// s_rebind: unbind the XPUB from ep and bind it again.
static void s_rebind(hub_t *hub, const char *ep)
{
    if (zmq_unbind(hub->pub_sock, ep) != 0) {
        IPP_LOGW(hub->log, "curve: cannot unbind %s to drop its subscribers: %s", ep,
                 zmq_strerror(zmq_errno()));
        return;
    }
    for (int i = 0; i < 50; i++) {
        if (zmq_bind(hub->pub_sock, ep) == 0)
            return;
        if (zmq_errno() != EADDRINUSE)
            break;
        usleep(2000);
    }
    IPP_LOGE(hub->log, "curve: cannot bind %s again: %s; notifications stop", ep,
             zmq_strerror(zmq_errno()));
}

// s_kick_subscribers: drop every notification subscriber by binding the
// XPUB again, on TCP and on ipc: the SUBs reconnect at once and
// resubscribe, each through ZAP, so a key revoked just now stops hearing
// notifications too.
static void s_kick_subscribers(hub_t *hub)
{
    char ep[128];
    conn_info_t tmp = hub->client_conn;
    snprintf(tmp.ip, sizeof tmp.ip, "%s", hub->cfg.ip);
    conn_endpoint(&tmp, hub->client_conn.notify_port, ep, sizeof ep);
    s_rebind(hub, ep);
    if (hub->client_conn.ipc_notify[0])
        s_rebind(hub, hub->client_conn.ipc_notify);
}

void hub_query_keys_reload(hub_t *hub, wire_msg_t *msg, const wire_frame_t *ident)
{
    const char *parent = msg->header->msg_id;
    const Ipp__KeysReloadRequest *req = (const Ipp__KeysReloadRequest *)msg->content;
    if (!hub_permit_admin(hub, ident, parent, "reloading keys"))
        return;
    if (!hub->cfg.curve) {
        Ipp__KeysReloadReply rep = IPP__KEYS_RELOAD_REPLY__INIT;
        hub_reply(hub, ident, parent, IPP__MSG_TYPE__KEYS_RELOAD_REPLY, &rep.base, NULL, 0);
        return;
    }
    char peer[DB_KEY_NAME_MAX + 1] = "";
    if (hub->peer)
        snprintf(peer, sizeof peer, "%s", hub->peer->name);
    // Which keys were in force before, to tell whether one was revoked.
    size_t n = req->n_names;
    bool revoked_any = false;
    bool *before = n ? calloc(n, sizeof *before) : NULL;
    for (size_t i = 0; before && i < n; i++) {
        const hub_key_t *k = req->names[i] ? ipp_strmap_get(hub->keys, req->names[i]) : NULL;
        before[i] = k && !k->revoked && k->role != DB_ROLE_ENGINE;
    }
    int loaded = 0;
    ipp_error_t err;
    ipp_err_t rc = hub_keys_load(hub, n ? (const char *const *)req->names : NULL, n, &loaded, &err);
    hub->peer = peer[0] ? ipp_strmap_get(hub->keys, peer) : NULL;
    for (size_t i = 0; i < n; i++) {
        const hub_key_t *k = req->names[i] ? ipp_strmap_get(hub->keys, req->names[i]) : NULL;
        if ((!before || before[i]) && (!k || k->revoked))
            revoked_any = true;
    }
    free(before);
    if (rc != IPP_OK) {
        hub_reply_error(hub, hub->client_sock, ident, parent, rc, NULL, "cannot read keys: %s",
                        err.msg);
        return;
    }
    if (revoked_any || n == 0)
        s_kick_subscribers(hub);
    // An engine whose key went stops at once, not after its missed
    // heartbeats: its tasks are retried or fail now.
    size_t dropped = hub_engines_drop_revoked(hub);
    if (dropped)
        IPP_LOGI(hub->log, "curve: %zu engine%s unregistered with their key", dropped,
                 dropped == 1 ? "" : "s");
    IPP_LOGI(hub->log, "curve: %d key%s read again", loaded, loaded == 1 ? "" : "s");
    Ipp__KeysReloadReply rep = IPP__KEYS_RELOAD_REPLY__INIT;
    rep.has_loaded = 1;
    rep.loaded = loaded;
    hub_reply(hub, ident, parent, IPP__MSG_TYPE__KEYS_RELOAD_REPLY, &rep.base, NULL, 0);
}
