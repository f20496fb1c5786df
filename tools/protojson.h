/*
 * JSON payloads for `actr call --proto F` (tools/protojson.c): the proto3
 * JSON mapping, driven by the FileDescriptorSet protoc writes for F. No
 * code generation and no protobuf runtime beyond protobuf-c's descriptor
 * messages.
 */
#ifndef ACTR_TOOLS_PROTOJSON_H
#define ACTR_TOOLS_PROTOJSON_H

#include <stddef.h>
#include <stdint.h>

#include "google/protobuf/descriptor.pb-c.h"

/**
 * Encode the JSON object json as message type (full name, no leading
 * dot) of set. 0 and *out (malloc'd, *len bytes), or -1 with a sentence
 * in err naming the field and what is wrong.
 */
int actr__pj_encode(const Google__Protobuf__FileDescriptorSet *set,
		    const char *type, const char *json, uint8_t **out,
		    size_t *len, char *err, size_t errcap);

/**
 * Decode data as message type into a JSON object (*out malloc'd,
 * NUL-terminated). 0, or -1 with a sentence in err (data is not that
 * message).
 */
int actr__pj_decode(const Google__Protobuf__FileDescriptorSet *set,
		    const char *type, const uint8_t *data, size_t len,
		    char **out, char *err, size_t errcap);

#endif
