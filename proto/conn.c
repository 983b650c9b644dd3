/* conn.c — reading and writing connection files, profile folders.
 *
 * Owns nothing past a call. Files are written atomically (temp + fsync +
 * rename) with mode 0600 and read only if nobody else can read them: they
 * hold the key that signs every message.
 */
#include "proto/conn.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

void conn_info_init(conn_info_t *info, conn_kind_t kind)
{
    memset(info, 0, sizeof *info);
    info->kind = kind;
    snprintf(info->transport, sizeof info->transport, "tcp");
    snprintf(info->ip, sizeof info->ip, "127.0.0.1");
    snprintf(info->scheme, sizeof info->scheme, "%s", WIRE_SCHEME);
}

void conn_info_new_key(conn_info_t *info)
{
    info->key_len = 32;
    randombytes_buf(info->key, info->key_len);
}

static const char *s_kind_name(conn_kind_t kind)
{
    return kind == CONN_ENGINE ? "engine" : "client";
}

char *conn_format(const conn_info_t *info)
{
    char b64[sodium_base64_ENCODED_LEN(WIRE_KEY_MAX, sodium_base64_VARIANT_ORIGINAL)];
    sodium_bin2base64(b64, sizeof b64, info->key, info->key_len, sodium_base64_VARIANT_ORIGINAL);
    json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i}", "kind", s_kind_name(info->kind),
                          "transport", info->transport, "ip", info->ip, "key", b64,
                          "signature_scheme", info->scheme, "controller_pid", info->controller_pid);
    sodium_memzero(b64, sizeof b64);
    if (!o)
        return NULL;
    if (info->kind == CONN_CLIENT) {
        json_object_set_new(o, "client_port", json_integer(info->client_port));
        json_object_set_new(o, "notify_port", json_integer(info->notify_port));
    } else {
        json_object_set_new(o, "engine_port", json_integer(info->engine_port));
    }
    if (info->curve_server_key[0])
        json_object_set_new(o, "curve_server_key", json_string(info->curve_server_key));
    if (info->curve_public_key[0]) {
        json_object_set_new(o, "curve_public_key", json_string(info->curve_public_key));
        json_object_set_new(o, "curve_secret_key", json_string(info->curve_secret_key));
    }
    if (info->key_name[0])
        json_object_set_new(o, "key_name", json_string(info->key_name));
    if (info->host_id[0]) {
        json_object_set_new(o, "host_id", json_string(info->host_id));
        if (info->kind == CONN_CLIENT && info->ipc_client[0] && info->ipc_notify[0]) {
            json_object_set_new(o, "ipc_client", json_string(info->ipc_client));
            json_object_set_new(o, "ipc_notify", json_string(info->ipc_notify));
        } else if (info->kind == CONN_ENGINE && info->ipc_engine[0]) {
            json_object_set_new(o, "ipc_engine", json_string(info->ipc_engine));
        }
    }
    char *text = json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(o);
    return text;
}

// s_write_text: text and a newline into path, mode 0600, through a
// temporary file in the same folder: renamed over path, or with exclusive
// linked to it (when path exists then, *existed is set and it is left
// alone: IPP_OK). Wipes and frees text.
static ipp_err_t s_write_text(const char *path, char *text, bool exclusive, bool *existed,
                              ipp_error_t *err)
{
    ipp_err_t rc = IPP_OK;
    int fd = -1;
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp) {
        rc = ipp_error_set(err, IPP_ERR_INVALID, "path too long: %s", path);
        goto out;
    }
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = ipp_error_set(err, IPP_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
        goto out;
    }
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || write(fd, "\n", 1) != 1 || fsync(fd) != 0) {
        rc = ipp_error_set(err, IPP_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = ipp_error_set(err, IPP_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (exclusive) {
        if (link(tmp, path) != 0) {
            if (errno == EEXIST && existed)
                *existed = true;
            else
                rc = ipp_error_set(err, IPP_ERR_IO, "cannot create %s: %s", path, strerror(errno));
        }
        unlink(tmp);
        goto out;
    }
    if (rename(tmp, path) != 0) {
        rc = ipp_error_set(err, IPP_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
                           strerror(errno));
        goto out;
    }
out:
    if (fd >= 0)
        close(fd);
    if (rc != IPP_OK)
        unlink(tmp);
    sodium_memzero(text, strlen(text));
    free(text);
    return rc;
}

ipp_err_t conn_write(const char *path, const conn_info_t *info, ipp_error_t *err)
{
    char *text = conn_format(info);
    if (!text)
        return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for %s", path);
    return s_write_text(path, text, false, NULL, err);
}

// s_get_string: copy string field name of o into buf; error naming it.
static ipp_err_t s_get_string(json_t *o, const char *path, const char *name, char *buf, size_t size,
                              int required, ipp_error_t *err)
{
    json_t *v = json_object_get(o, name);
    if (!v) {
        if (!required)
            return IPP_OK;
        return ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: field \"%s\" is missing", path, name);
    }
    if (!json_is_string(v))
        return ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: field \"%s\" must be a string", path,
                             name);
    if (json_string_length(v) >= size || json_string_length(v) == 0)
        return ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: field \"%s\" must be 1 to %zu characters",
                             path, name, size - 1);
    memcpy(buf, json_string_value(v), json_string_length(v) + 1);
    return IPP_OK;
}

// s_get_port: integer field name of o in 1..65535.
static ipp_err_t s_get_port(json_t *o, const char *path, const char *name, int *port,
                            ipp_error_t *err)
{
    json_t *v = json_object_get(o, name);
    if (!v)
        return ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: field \"%s\" is missing", path, name);
    if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 65535)
        return ipp_error_set(err, IPP_ERR_CONN_FILE,
                             "%s: field \"%s\" must be a port number (1-65535)", path, name);
    *port = (int)json_integer_value(v);
    return IPP_OK;
}

// s_get_ipc: the optional ipc endpoint name of o into buf; it must be
// "ipc://" and an absolute path that fits a Unix socket address.
static ipp_err_t s_get_ipc(json_t *o, const char *path, const char *name, char *buf, size_t size,
                           ipp_error_t *err)
{
    ipp_err_t rc = s_get_string(o, path, name, buf, size, 0, err);
    if (rc != IPP_OK || !buf[0])
        return rc;
    size_t plen = strlen(buf) - (strncmp(buf, "ipc://", 6) == 0 ? 6 : 0);
    if (strncmp(buf, "ipc:///", 7) != 0 || plen >= sizeof(((struct sockaddr_un *)0)->sun_path))
        return ipp_error_set(err, IPP_ERR_CONN_FILE,
                             "%s: field \"%s\" must be \"ipc://\" and an absolute path of at "
                             "most %zu bytes",
                             path, name, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    return IPP_OK;
}

// s_check_ipc: the optional ipc endpoints of kind and the host they are
// on; an endpoint without the host is refused (a peer could not tell).
static ipp_err_t s_check_ipc(json_t *o, const char *path, conn_kind_t kind, conn_info_t *info,
                             ipp_error_t *err)
{
    ipp_err_t rc;
    if ((rc = s_get_string(o, path, "host_id", info->host_id, sizeof info->host_id, 0, err)) !=
        IPP_OK)
        return rc;
    if (kind == CONN_CLIENT) {
        if ((rc = s_get_ipc(o, path, "ipc_client", info->ipc_client, sizeof info->ipc_client,
                            err)) != IPP_OK ||
            (rc = s_get_ipc(o, path, "ipc_notify", info->ipc_notify, sizeof info->ipc_notify,
                            err)) != IPP_OK)
            return rc;
        if (!info->ipc_client[0] != !info->ipc_notify[0])
            return ipp_error_set(err, IPP_ERR_CONN_FILE,
                                 "%s: fields \"ipc_client\" and \"ipc_notify\" go together", path);
    } else if ((rc = s_get_ipc(o, path, "ipc_engine", info->ipc_engine, sizeof info->ipc_engine,
                               err)) != IPP_OK) {
        return rc;
    }
    if ((info->ipc_client[0] || info->ipc_engine[0]) && !info->host_id[0])
        return ipp_error_set(err, IPP_ERR_CONN_FILE,
                             "%s: an ipc endpoint needs field \"host_id\" (the controller's host)",
                             path);
    return IPP_OK;
}

// s_check: check the JSON o of the connection file called path into info
// (already initialised for kind). Borrows o.
static ipp_err_t s_check(json_t *o, const char *path, conn_kind_t kind, conn_info_t *info,
                         ipp_error_t *err)
{
    ipp_err_t rc = IPP_OK;
    if (!json_is_object(o)) {
        rc = ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: must hold a JSON object", path);
        goto out;
    }
    char kind_name[16];
    if ((rc = s_get_string(o, path, "kind", kind_name, sizeof kind_name, 1, err)) != IPP_OK)
        goto out;
    if (strcmp(kind_name, s_kind_name(kind)) != 0) {
        rc = ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: field \"kind\" is \"%s\", expected \"%s\"",
                           path, kind_name, s_kind_name(kind));
        goto out;
    }
    if ((rc = s_get_string(o, path, "transport", info->transport, sizeof info->transport, 1,
                           err)) != IPP_OK ||
        (rc = s_get_string(o, path, "ip", info->ip, sizeof info->ip, 1, err)) != IPP_OK ||
        (rc = s_get_string(o, path, "signature_scheme", info->scheme, sizeof info->scheme, 1,
                           err)) != IPP_OK)
        goto out;
    if (strcmp(info->transport, "tcp") != 0) {
        rc = ipp_error_set(err, IPP_ERR_CONN_FILE,
                           "%s: field \"transport\" is \"%s\"; only \"tcp\" is supported", path,
                           info->transport);
        goto out;
    }
    if (strcmp(info->scheme, WIRE_SCHEME) != 0) {
        rc = ipp_error_set(err, IPP_ERR_CONN_FILE,
                           "%s: field \"signature_scheme\" is \"%s\"; expected \"%s\"", path,
                           info->scheme, WIRE_SCHEME);
        goto out;
    }
    if (kind == CONN_CLIENT) {
        if ((rc = s_get_port(o, path, "client_port", &info->client_port, err)) != IPP_OK ||
            (rc = s_get_port(o, path, "notify_port", &info->notify_port, err)) != IPP_OK)
            goto out;
    } else if ((rc = s_get_port(o, path, "engine_port", &info->engine_port, err)) != IPP_OK) {
        goto out;
    }
    char b64[128];
    if ((rc = s_get_string(o, path, "key", b64, sizeof b64, 1, err)) != IPP_OK)
        goto out;
    size_t klen = 0;
    if (sodium_base642bin(info->key, sizeof info->key, b64, strlen(b64), NULL, &klen, NULL,
                          sodium_base64_VARIANT_ORIGINAL) != 0 ||
        klen < WIRE_KEY_MIN) {
        sodium_memzero(b64, sizeof b64);
        rc = ipp_error_set(err, IPP_ERR_CONN_FILE,
                           "%s: field \"key\" is not a base64 key of %d to %d bytes", path,
                           WIRE_KEY_MIN, WIRE_KEY_MAX);
        goto out;
    }
    sodium_memzero(b64, sizeof b64);
    info->key_len = klen;
    if ((rc = s_get_string(o, path, "curve_server_key", info->curve_server_key,
                           sizeof info->curve_server_key, 0, err)) != IPP_OK)
        goto out;
    if (info->curve_server_key[0]) {
        uint8_t raw[32];
        if (strlen(info->curve_server_key) != 40 || !zmq_z85_decode(raw, info->curve_server_key)) {
            rc =
                ipp_error_set(err, IPP_ERR_CONN_FILE,
                              "%s: field \"curve_server_key\" is not a 40-character Z85 key", path);
            goto out;
        }
    }
    if ((rc = s_get_string(o, path, "curve_public_key", info->curve_public_key,
                           sizeof info->curve_public_key, 0, err)) != IPP_OK ||
        (rc = s_get_string(o, path, "curve_secret_key", info->curve_secret_key,
                           sizeof info->curve_secret_key, 0, err)) != IPP_OK ||
        (rc = s_get_string(o, path, "key_name", info->key_name, sizeof info->key_name, 0, err)) !=
            IPP_OK)
        goto out;
    if (!info->curve_public_key[0] != !info->curve_secret_key[0]) {
        rc = ipp_error_set(err, IPP_ERR_CONN_FILE,
                           "%s: fields \"curve_public_key\" and \"curve_secret_key\" go "
                           "together",
                           path);
        goto out;
    }
    if (info->curve_public_key[0]) {
        uint8_t raw[32];
        const char *bad = NULL;
        if (!info->curve_server_key[0])
            bad = "curve_server_key";
        else if (strlen(info->curve_public_key) != 40 ||
                 !zmq_z85_decode(raw, info->curve_public_key))
            bad = "curve_public_key";
        else if (strlen(info->curve_secret_key) != 40 ||
                 !zmq_z85_decode(raw, info->curve_secret_key))
            bad = "curve_secret_key";
        sodium_memzero(raw, sizeof raw);
        if (bad) {
            rc = ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: field \"%s\" %s", path, bad,
                               strcmp(bad, "curve_server_key") == 0
                                   ? "is missing (a key pair needs the controller's key)"
                                   : "is not a 40-character Z85 key");
            goto out;
        }
    }
    if ((rc = s_check_ipc(o, path, kind, info, err)) != IPP_OK)
        goto out;
    json_t *pid = json_object_get(o, "controller_pid");
    if (json_is_integer(pid))
        info->controller_pid = (int)json_integer_value(pid);
out:
    if (rc != IPP_OK) {
        sodium_memzero(info->key, sizeof info->key);
        sodium_memzero(info->curve_secret_key, sizeof info->curve_secret_key);
    }
    return rc;
}

ipp_err_t conn_parse(const char *text, size_t len, const char *name, conn_kind_t kind,
                     conn_info_t *info, ipp_error_t *err)
{
    conn_info_init(info, kind);
    json_error_t jerr;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: not valid JSON (line %d: %s)", name,
                             jerr.line, jerr.text);
    ipp_err_t rc = s_check(o, name, kind, info, err);
    json_decref(o);
    return rc;
}

ipp_err_t conn_read(const char *path, conn_kind_t kind, conn_info_t *info, ipp_error_t *err)
{
    conn_info_init(info, kind);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return ipp_error_set(err, IPP_ERR_NOT_FOUND,
                                 "%s: no such connection file (is the controller started?)", path);
        return ipp_error_set(err, IPP_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (st.st_mode & 077)
        return ipp_error_set(err, IPP_ERR_PERMISSION,
                             "%s: mode %04o lets others read the key; it must be 0600 "
                             "(chmod 600 %s)",
                             path, (unsigned)(st.st_mode & 07777), path);
    json_error_t jerr;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: not valid JSON (line %d: %s)", path,
                             jerr.line, jerr.text);
    ipp_err_t rc = s_check(o, path, kind, info, err);
    json_decref(o);
    return rc;
}

ipp_err_t conn_curve_check(const char *who, ipp_error_t *err)
{
    if (zmq_has("curve"))
        return IPP_OK;
    int major = 0, minor = 0, patch = 0;
    zmq_version(&major, &minor, &patch);
    return ipp_error_set(err, IPP_ERR_UNSUPPORTED,
                         "%s: this libzmq (%d.%d.%d) was built without CurveZMQ "
                         "(zmq_has(\"curve\") is false); install a libzmq with libsodium "
                         "support (Debian's libzmq5 has it)",
                         who, major, minor, patch);
}

// s_stat_private: IPP_OK when path exists and only its owner may read it.
static ipp_err_t s_stat_private(const char *path, const char *what, ipp_error_t *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return ipp_error_set(err, IPP_ERR_NOT_FOUND, "%s: no such %s", path, what);
        return ipp_error_set(err, IPP_ERR_IO, "%s: %s", path, strerror(errno));
    }
    if (st.st_mode & 077)
        return ipp_error_set(err, IPP_ERR_PERMISSION,
                             "%s: mode %04o lets others read the %s; it must be 0600 "
                             "(chmod 600 %s)",
                             path, (unsigned)(st.st_mode & 07777), what, path);
    return IPP_OK;
}

ipp_err_t conn_keypair_load(const char *path, bool create, char pub[41], char sec[41],
                            ipp_error_t *err)
{
    ipp_err_t rc = s_stat_private(path, "key file", err);
    if (rc == IPP_ERR_NOT_FOUND && create) {
        char p[41], s[41];
        if (zmq_curve_keypair(p, s) != 0)
            return ipp_error_set(err, IPP_ERR_UNSUPPORTED, "%s: cannot make a Curve key pair: %s",
                                 path, zmq_strerror(zmq_errno()));
        json_t *o = json_pack("{s:s, s:s}", "public_key", p, "secret_key", s);
        sodium_memzero(s, sizeof s);
        char *text = o ? json_dumps(o, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
        json_decref(o);  // jansson keeps its own copy of the secret: freed here
        if (!text)
            return ipp_error_set(err, IPP_ERR_NOMEM, "no memory for %s", path);
        bool existed = false;
        if ((rc = s_write_text(path, text, true, &existed, err)) != IPP_OK)
            return rc;
        rc = s_stat_private(path, "key file", err);
    }
    if (rc != IPP_OK)
        return rc;
    json_error_t jerr;
    json_t *o = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!o)
        return ipp_error_set(err, IPP_ERR_CONN_FILE, "%s: not a key file (line %d: %s)", path,
                             jerr.line, jerr.text);
    const char *p = json_string_value(json_object_get(o, "public_key"));
    const char *s = json_string_value(json_object_get(o, "secret_key"));
    uint8_t raw[32], rawp[32];
    if (!p || !s || strlen(p) != 40 || strlen(s) != 40 || !zmq_z85_decode(rawp, p) ||
        !zmq_z85_decode(raw, s)) {
        rc = ipp_error_set(err, IPP_ERR_CONN_FILE,
                           "%s: needs \"public_key\" and \"secret_key\", 40-character Z85 "
                           "keys",
                           path);
    } else {
        // The pair must belong together: derive the public key again.
        uint8_t derived[32];
        crypto_scalarmult_base(derived, raw);
        if (sodium_memcmp(derived, rawp, 32) != 0) {
            rc = ipp_error_set(err, IPP_ERR_CONN_FILE,
                               "%s: \"public_key\" does not belong to \"secret_key\"", path);
        } else {
            memcpy(pub, p, 41);
            memcpy(sec, s, 41);
        }
    }
    sodium_memzero(raw, sizeof raw);
    json_decref(o);
    if (rc != IPP_OK)
        sodium_memzero(sec, 41);
    return rc;
}

char *conn_endpoint(const conn_info_t *info, int port, char *buf, size_t size)
{
    if (strchr(info->ip, ':'))
        snprintf(buf, size, "%s://[%s]:%d", info->transport, info->ip, port);
    else
        snprintf(buf, size, "%s://%s:%d", info->transport, info->ip, port);
    return buf;
}

bool conn_host_id(char *buf, size_t size)
{
    buf[0] = '\0';
    char boot[64] = "";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f)
        return false;
    bool ok = fgets(boot, sizeof boot, f) != NULL;
    fclose(f);
    boot[strcspn(boot, "\n")] = '\0';
    struct stat st;
    if (!ok || !boot[0] || stat("/proc/self/ns/net", &st) != 0)
        return false;
    int n = snprintf(buf, size, "%s/net:%llu", boot, (unsigned long long)st.st_ino);
    if (n < 0 || (size_t)n >= size) {
        buf[0] = '\0';
        return false;
    }
    return true;
}

bool conn_ipc_endpoint(const char *profile_dir, const char *name, char *buf, size_t size)
{
    int n = snprintf(buf, size, "ipc://%s/security/ipc-%s.sock", profile_dir, name);
    if (n < 0 || (size_t)n >= size || profile_dir[0] != '/' ||
        (size_t)n - 6 >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
        buf[0] = '\0';
        return false;
    }
    return true;
}

char *conn_peer_endpoint(const conn_info_t *info, conn_sock_t which, char *buf, size_t size)
{
    const char *ipc = which == CONN_SOCK_CLIENT   ? info->ipc_client
                      : which == CONN_SOCK_NOTIFY ? info->ipc_notify
                                                  : info->ipc_engine;
    const char *transport = getenv("IPP_TRANSPORT");
    char here[CONN_HOST_ID_MAX];
    // A colleague on the same host with a file from `ipp keys new` may not
    // enter the owner's security/ folder: TCP then, not a silent wait.
    if (ipc[0] && info->host_id[0] && !(transport && strcmp(transport, "tcp") == 0) &&
        conn_host_id(here, sizeof here) && strcmp(here, info->host_id) == 0 &&
        access(ipc + 6, W_OK) == 0) {
        snprintf(buf, size, "%s", ipc);
        return buf;
    }
    int port = which == CONN_SOCK_CLIENT   ? info->client_port
               : which == CONN_SOCK_NOTIFY ? info->notify_port
                                           : info->engine_port;
    return conn_endpoint(info, port, buf, size);
}

ipp_err_t conn_ipp_dir(char *buf, size_t size, ipp_error_t *err)
{
    const char *dir = getenv("IPP_DIR");
    int n;
    if (dir && dir[0]) {
        n = snprintf(buf, size, "%s", dir);
    } else {
        const char *home = getenv("HOME");
        if (!home || !home[0])
            return ipp_error_set(err, IPP_ERR_INVALID, "neither IPP_DIR nor HOME is set");
        n = snprintf(buf, size, "%s/.ipp", home);
    }
    if (n < 0 || (size_t)n >= size)
        return ipp_error_set(err, IPP_ERR_INVALID, "IPP_DIR path too long");
    return IPP_OK;
}

ipp_err_t conn_profile_dir(const char *ipp_dir, const char *profile, char *buf, size_t size,
                           ipp_error_t *err)
{
    char base[3072];
    if (!profile || !profile[0])
        profile = "default";
    for (const char *p = profile; *p; p++) {
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_' || *p == '.') ||
            (p == profile && *p == '.'))
            return ipp_error_set(err, IPP_ERR_INVALID,
                                 "profile name \"%s\": use letters, digits, '-', '_', '.'",
                                 profile);
    }
    if (!ipp_dir) {
        ipp_err_t rc = conn_ipp_dir(base, sizeof base, err);
        if (rc != IPP_OK)
            return rc;
        ipp_dir = base;
    }
    int n = snprintf(buf, size, "%s/profile_%s", ipp_dir, profile);
    if (n < 0 || (size_t)n >= size)
        return ipp_error_set(err, IPP_ERR_INVALID, "profile path too long");
    return IPP_OK;
}

// s_mkdir: mkdir -p for one level, with mode; an existing folder is fine.
static ipp_err_t s_mkdir(const char *path, mode_t mode, ipp_error_t *err)
{
    if (mkdir(path, mode) == 0 || errno == EEXIST) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            return IPP_OK;
        return ipp_error_set(err, IPP_ERR_IO, "%s exists and is not a folder", path);
    }
    return ipp_error_set(err, IPP_ERR_IO, "cannot create %s: %s", path, strerror(errno));
}

ipp_err_t conn_profile_prepare(const char *profile_dir, ipp_error_t *err)
{
    char path[4096];
    ipp_err_t rc;
    // The parent ($IPP_DIR) first, then the profile and its folders.
    snprintf(path, sizeof path, "%s", profile_dir);
    char *slash = strrchr(path, '/');
    if (slash && slash != path) {
        *slash = '\0';
        if ((rc = s_mkdir(path, 0700, err)) != IPP_OK)
            return rc;
    }
    if ((rc = s_mkdir(profile_dir, 0700, err)) != IPP_OK)
        return rc;
    static const char *const subs[] = {"security", "db", "log"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", profile_dir, subs[i]);
        if ((rc = s_mkdir(path, 0700, err)) != IPP_OK)
            return rc;
    }
    return IPP_OK;
}

ipp_err_t conn_file_path(const char *profile_dir, conn_kind_t kind, char *buf, size_t size,
                         ipp_error_t *err)
{
    int n = snprintf(buf, size, "%s/security/%s", profile_dir,
                     kind == CONN_ENGINE ? CONN_ENGINE_FILE : CONN_CLIENT_FILE);
    if (n < 0 || (size_t)n >= size)
        return ipp_error_set(err, IPP_ERR_INVALID, "connection file path too long");
    return IPP_OK;
}
