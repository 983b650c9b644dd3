/* curve_peer.c — a libipp client that keeps one connection open across a
 * step the test takes: connect with the connection file argv[1], ask
 * queue_status, print "first: ok" (or the error), wait for a line on
 * stdin, ask again, print "second: ok" or "second: ERROR_NAME message".
 * For test_curve.sh: a key revoked between the two requests must be
 * refused on the second, on the same connection.
 */
#include "ipp/client.h"

#include <stdio.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: curve_peer CONNECTION_FILE\n");
        return 2;
    }
    ipp_error_t err;
    ipp_client_t *c = ipp_client_connect(argv[1], 5, &err);
    if (!c) {
        printf("connect: %s\n", err.msg);
        return 1;
    }
    ipp_queue_status_t qs;
    if (ipp_client_queue_status(c, NULL, 0, false, &qs, &err) == IPP_OK) {
        printf("first: ok\n");
        ipp_queue_status_fini(&qs);
    } else {
        printf("first: %s %s\n", ipp_errname(err.code), err.msg);
    }
    fflush(stdout);
    char line[64];
    if (!fgets(line, sizeof line, stdin)) {
        ipp_client_destroy(&c);
        return 1;
    }
    ipp_client_set_timeout(c, 3);
    int rc = 0;
    if (ipp_client_queue_status(c, NULL, 0, false, &qs, &err) == IPP_OK) {
        printf("second: ok\n");
        ipp_queue_status_fini(&qs);
    } else {
        printf("second: %s %s\n", ipp_errname(err.code), err.msg);
        rc = 1;
    }
    fflush(stdout);
    ipp_client_destroy(&c);
    return rc;
}
