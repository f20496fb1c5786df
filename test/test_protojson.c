/*
 * JSON payloads of `actr call --proto` (tools/protojson.c, compiled into
 * this test): a .proto with every field kind, compiled by protoc into a
 * descriptor set, JSON encoded to the binary form and decoded back, and
 * what bad JSON says.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "tools/protojson.c"

static const char rich_proto[] =
	"syntax = \"proto3\";\n"
	"package t;\n"
	"enum Color { RED = 0; GREEN = 1; BLUE = 2; }\n"
	"message Inner { string name = 1; repeated int32 vals = 2; }\n"
	"message All {\n"
	"  string s = 1; bytes b = 2; int32 i32 = 3; int64 i64 = 4;\n"
	"  uint32 u32 = 5; uint64 u64 = 6; sint32 s32 = 7; sint64 s64 = 8;\n"
	"  fixed32 f32 = 9; fixed64 f64 = 10; sfixed32 sf32 = 11;\n"
	"  sfixed64 sf64 = 12; bool flag = 13; double d = 14; float f = 15;\n"
	"  Color color = 16; Inner inner = 17; repeated Inner items = 18;\n"
	"  map<string, int64> counts = 19; repeated string tags = 20;\n"
	"  string snake_case_name = 21;\n"
	"}\n";

/* protoc's descriptor set for rich_proto, or skip the test. */
static Google__Protobuf__FileDescriptorSet *load_set(void)
{
	char dir[512], cmd[2048], path[600];
	Google__Protobuf__FileDescriptorSet *set;
	uint8_t buf[16384];
	size_t n;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", actr_test_tmpdir());
	snprintf(path, sizeof(path), "%s/rich.proto", dir);
	f = fopen(path, "w");
	CHECK(f);
	fputs(rich_proto, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "protoc -I%s --descriptor_set_out=%s/rich.pb "
		 "%s/rich.proto 2>&1", dir, dir, dir);
	if (system(cmd) != 0)
		actr_test_skip("protoc is not installed");
	snprintf(path, sizeof(path), "%s/rich.pb", dir);
	f = fopen(path, "rb");
	CHECK(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	set = google__protobuf__file_descriptor_set__unpack(NULL, n, buf);
	CHECK(set);
	return set;
}

/* json -> binary -> JSON, compared with want. */
static void round_trip(const Google__Protobuf__FileDescriptorSet *set,
		       const char *json, const char *want)
{
	uint8_t *bin = NULL;
	char *back = NULL, err[300] = "";
	size_t n = 0;

	if (actr__pj_encode(set, "t.All", json, &bin, &n, err, sizeof(err)))
		actr_test_fail(__FILE__, __LINE__, "encode %s: %s", json, err);
	if (actr__pj_decode(set, "t.All", bin, n, &back, err, sizeof(err)))
		actr_test_fail(__FILE__, __LINE__, "decode: %s", err);
	CHECK_STR(back, want);
	free(bin);
	free(back);
}

/* The error encoding json gives (it must fail). */
static const char *bad(const Google__Protobuf__FileDescriptorSet *set,
		       const char *json)
{
	static char err[300];
	uint8_t *bin = NULL;
	size_t n = 0;

	err[0] = 0;
	CHECK_EQ(actr__pj_encode(set, "t.All", json, &bin, &n, err,
				 sizeof(err)), -1);
	CHECK(err[0]);
	return err;
}

TEST(protojson_round_trip_and_errors)
{
	Google__Protobuf__FileDescriptorSet *set = load_set();
	uint8_t *bin = NULL;
	char *out = NULL, err[300];
	size_t n = 0;

	round_trip(set, "{}", "{}");
	round_trip(set,
		   "{\"s\": \"h\\u00e9 \\\"q\\\"\\n\", \"b\": \"AQL/\", "
		   "\"i32\": -5, \"i64\": \"-9007199254740993\", "
		   "\"u32\": 4294967295, \"u64\": 18446744073709551615, "
		   "\"s32\": -3, \"s64\": \"-4\", \"f32\": 7, \"f64\": \"8\", "
		   "\"sf32\": -9, \"sf64\": -10, \"flag\": true, "
		   "\"d\": 0.5, \"f\": 1.5, \"color\": \"BLUE\", "
		   "\"inner\": {\"name\": \"in\", \"vals\": [1, -2, 3]}, "
		   "\"items\": [{\"name\": \"a\"}, {}], "
		   "\"counts\": {\"x\": \"5\"}, \"tags\": [\"p\", \"q\"], "
		   "\"snakeCaseName\": \"camel\"}",
		   "{\"s\":\"h\xc3\xa9 \\\"q\\\"\\u000a\",\"b\":\"AQL/\","
		   "\"i32\":-5,\"i64\":\"-9007199254740993\","
		   "\"u32\":4294967295,\"u64\":\"18446744073709551615\","
		   "\"s32\":-3,\"s64\":\"-4\",\"f32\":7,\"f64\":\"8\","
		   "\"sf32\":-9,\"sf64\":\"-10\",\"flag\":true,\"d\":0.5,"
		   "\"f\":1.5,\"color\":\"BLUE\","
		   "\"inner\":{\"name\":\"in\",\"vals\":[1,-2,3]},"
		   "\"items\":[{\"name\":\"a\"},{}],\"counts\":{\"x\":\"5\"},"
		   "\"tags\":[\"p\",\"q\"],\"snakeCaseName\":\"camel\"}");
	/* the .proto names work too, null is the default, enum numbers */
	round_trip(set, "{\"snake_case_name\": \"x\", \"s\": null, "
		   "\"color\": 1}",
		   "{\"color\":\"GREEN\",\"snakeCaseName\":\"x\"}");

	/* what bad JSON says: the field and the problem */
	CHECK(strstr(bad(set, "{\"nope\": 1}"), "All has no field \"nope\""));
	CHECK(strstr(bad(set, "{\"s\": 5}"), "expected a string"));
	CHECK(strstr(bad(set, "{\"i32\": 3000000000}"),
		     "field i32: '3000000000' is not a valid value"));
	CHECK(strstr(bad(set, "{\"u64\": -1}"), "field u64"));
	CHECK(strstr(bad(set, "{\"color\": \"PINK\"}"),
		     "no value PINK in enum"));
	CHECK(strstr(bad(set, "{\"tags\": \"p\"}"), "field tags is repeated"));
	CHECK(strstr(bad(set, "{\"b\": \"!!\"}"), "base64"));
	CHECK(strstr(bad(set, "{\"s\": \"x\"} tail"), "text after"));
	CHECK(strstr(bad(set, "{\"s\": \"x\""), "expected } or ,"));
	CHECK(strstr(bad(set, "[1]"), "expected a JSON object"));
	CHECK(strstr(bad(set, "{\"flag\": yes}"), "expected true or false"));
	CHECK_EQ(actr__pj_encode(set, "t.Missing", "{}", &bin, &n, err,
				 sizeof(err)), -1);
	CHECK(strstr(err, "type t.Missing not in the file"));
	/* bytes that are not the message */
	CHECK_EQ(actr__pj_decode(set, "t.All", (const uint8_t *)"\xff\xff",
				 2, &out, err, sizeof(err)), -1);
	CHECK(strstr(err, "not a valid All"));
	google__protobuf__file_descriptor_set__free_unpacked(set, NULL);
}
