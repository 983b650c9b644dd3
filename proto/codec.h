/* codec.h — which protobuf message each msg_type carries.
 *
 * A constant table; the only place that pairs MsgType numbers with content
 * descriptors, so sender and receiver cannot disagree.
 */
#ifndef IPP_PROTO_CODEC_H
#define IPP_PROTO_CODEC_H

#include "proto/ipp.pb-c.h"

// wire_descriptor: the content descriptor for msg_type, or NULL if unknown.
const ProtobufCMessageDescriptor *wire_descriptor(int msg_type);

// wire_type_name: "task_request", "result_reply", … or "unknown".
const char *wire_type_name(int msg_type);

// wire_type_count: how many message types the table knows.
int wire_type_count(void);

// wire_type_at: the i-th known msg_type (0 ≤ i < wire_type_count()).
int wire_type_at(int i);

#endif
