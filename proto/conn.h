/* conn.h — connection files and profile folders.
 *
 * A controller writes two JSON connection files, mode 0600, under
 * $IPP_DIR/profile_NAME/security/ ($IPP_DIR defaults to ~/.ipp):
 * ipp-client.json (client and notification ports) and ipp-engine.json
 * (engine port). Each holds the transport, ip, ports, the MAC key (base64),
 * the signature scheme, and the controller's Curve public key when Curve
 * is on. A connection file made for one Curve key (`ipp keys new`) also
 * holds that key's name and pair. When the controller also listens on
 * ipc:// (Unix sockets in the profile's security/ folder, so only the
 * profile's owner can connect), the files carry those endpoints too, with
 * the controller host's identity: a peer uses ipc only when it runs on
 * that host (same boot, same network namespace), else TCP. Reading one
 * checks its mode, every field and the key, and names the file and the
 * field in any error.
 *
 * Key files hold a Curve key pair alone (the controller's server key, in
 * the profile's security/ folder): written once, atomically, mode 0600,
 * and refused when anyone but the owner can read them.
 */
#ifndef IPP_PROTO_CONN_H
#define IPP_PROTO_CONN_H

#include "ipp/error.h"
#include "proto/wire.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONN_CLIENT_FILE "ipp-client.json"
#define CONN_ENGINE_FILE "ipp-engine.json"

typedef enum { CONN_CLIENT = 0, CONN_ENGINE = 1 } conn_kind_t;

// An ipc endpoint: "ipc://" and a Unix socket path (at most 107 bytes).
#define CONN_IPC_MAX 120
#define CONN_HOST_ID_MAX 80

// What a connection file says.
typedef struct conn_info_t {
    conn_kind_t kind;                // which file this is
    char transport[8];               // "tcp"
    char ip[64];                     // address to connect to
    int client_port;                 // controller ROUTER for clients (client file)
    int notify_port;                 // controller PUB (client file)
    int engine_port;                 // controller ROUTER for engines (engine file)
    uint8_t key[WIRE_KEY_MAX];       // MAC key
    size_t key_len;                  // its length
    char scheme[32];                 // signature scheme, WIRE_SCHEME
    char curve_server_key[41];       // Z85 public key; "" when Curve is off
    char curve_public_key[41];       // this peer's Z85 public key; "" = none in the file
    char curve_secret_key[41];       // its Z85 secret key (with a public key only)
    char key_name[65];               // the name the key is recorded under; "" = none
    int controller_pid;              // pid of the controller that wrote it, 0 = unknown
    char ipc_client[CONN_IPC_MAX];   // "ipc://…" for clients (client file); "" = none
    char ipc_notify[CONN_IPC_MAX];   // "ipc://…" for notifications (client file)
    char ipc_engine[CONN_IPC_MAX];   // "ipc://…" for engines (engine file)
    char host_id[CONN_HOST_ID_MAX];  // the controller's host, conn_host_id; "" = none
} conn_info_t;

// Which of the controller's sockets a peer connects to.
typedef enum { CONN_SOCK_CLIENT, CONN_SOCK_NOTIFY, CONN_SOCK_ENGINE } conn_sock_t;

#define CONN_SERVER_KEY_FILE "curve-server.key"

// conn_info_init: defaults (tcp, 127.0.0.1, WIRE_SCHEME, no ports, no key).
void conn_info_init(conn_info_t *info, conn_kind_t kind);

// conn_info_new_key: fill info with a fresh random 32-byte key.
void conn_info_new_key(conn_info_t *info);

// conn_write: write info to path as JSON with mode 0600: a temporary file
// in the same folder, fsync, rename — so a reader never sees half a file.
ipp_err_t conn_write(const char *path, const conn_info_t *info, ipp_error_t *err);

// conn_format: info as the JSON text of a connection file (what
// conn_write puts in the file, without the final newline). Caller owns
// the text (free(); it holds the key, so zero it first). NULL when out of
// memory or when a string field of info is not UTF-8.
char *conn_format(const conn_info_t *info);

// conn_parse: check the connection-file text[0..len) into info, exactly
// as conn_read checks a file's contents; name stands for the file in
// messages. Errors: IPP_ERR_CONN_FILE, as for conn_read. Borrows text.
ipp_err_t conn_parse(const char *text, size_t len, const char *name, conn_kind_t kind,
                     conn_info_t *info, ipp_error_t *err);

// conn_read: read and check path into info. Errors: IPP_ERR_NOT_FOUND (no
// file), IPP_ERR_PERMISSION (readable by group or others), IPP_ERR_CONN_FILE
// (not JSON, a field missing or of the wrong type, a bad port, a malformed
// key or Curve key, an unknown scheme) — each message names file and field.
ipp_err_t conn_read(const char *path, conn_kind_t kind, conn_info_t *info, ipp_error_t *err);

// conn_curve_check: IPP_OK when this libzmq can do CurveZMQ, else
// IPP_ERR_UNSUPPORTED with a message saying so (who names the asker).
ipp_err_t conn_curve_check(const char *who, ipp_error_t *err);

// conn_keypair_load: read the key file path into pub and sec (Z85, 41
// bytes each). With create, a missing file is made first: a fresh pair,
// mode 0600, written to a temporary file and linked into place, so two
// processes racing to create it end up with the same pair. Errors:
// IPP_ERR_NOT_FOUND (no file and !create), IPP_ERR_PERMISSION (group or
// others may read it; the message names the file), IPP_ERR_CONN_FILE (not
// a key file), IPP_ERR_IO. sec is wiped on failure.
ipp_err_t conn_keypair_load(const char *path, bool create, char pub[41], char sec[41],
                            ipp_error_t *err);

// conn_endpoint: "tcp://IP:PORT" into buf; IPv6 addresses get brackets.
char *conn_endpoint(const conn_info_t *info, int port, char *buf, size_t size);

// conn_host_id: this process's host as "BOOT_ID/net:INODE" (the kernel's
// boot id and the network namespace's inode) into buf: two processes with
// the same id reach the same Unix sockets and the same loopback. false (and
// "") when /proc cannot tell.
bool conn_host_id(char *buf, size_t size);

// conn_ipc_endpoint: "ipc://PROFILE/security/ipc-NAME.sock" into buf; false
// when the path does not fit a Unix socket address (then TCP alone serves).
bool conn_ipc_endpoint(const char *profile_dir, const char *name, char *buf, size_t size);

// conn_peer_endpoint: where a peer connects for socket which: the file's
// ipc endpoint when it has one, names this host (conn_host_id), this
// process may connect to it (the socket is there and writable: another
// account sharing the host may not enter the profile's folder) and
// $IPP_TRANSPORT is not "tcp"; else the TCP endpoint (conn_endpoint).
char *conn_peer_endpoint(const conn_info_t *info, conn_sock_t which, char *buf, size_t size);

// conn_ipp_dir: $IPP_DIR, else $HOME/.ipp, into buf. IPP_ERR_INVALID if
// neither is set or it does not fit.
ipp_err_t conn_ipp_dir(char *buf, size_t size, ipp_error_t *err);

// conn_profile_dir: ipp_dir/profile_NAME into buf (ipp_dir NULL: conn_ipp_dir).
// A profile name may hold letters, digits, '-', '_' and '.' only.
ipp_err_t conn_profile_dir(const char *ipp_dir, const char *profile, char *buf, size_t size,
                           ipp_error_t *err);

// conn_profile_prepare: create profile_dir and its security/ (0700), db/
// and log/ folders as needed.
ipp_err_t conn_profile_prepare(const char *profile_dir, ipp_error_t *err);

// conn_file_path: profile_dir/security/NAME into buf.
ipp_err_t conn_file_path(const char *profile_dir, conn_kind_t kind, char *buf, size_t size,
                         ipp_error_t *err);

#endif
