/* libFuzzer target: ActrId/ActrType string forms and RpcEnvelope decoding
 * with validation. Invariant: a parsed id formats back to a string that
 * parses to an equal id. */
#include <stdlib.h>
#include <string.h>

#include <actr/proto.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1), back[512];
	Actr__ActrId *id = NULL, *again = NULL;
	Actr__ActrType *type = NULL;
	Actr__RpcEnvelope *env;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (actr_id_parse(s, &id) == 0) {
		if (actr_id_format(id, back, sizeof(back)) < 0 ||
		    actr_id_parse(back, &again) != 0 ||
		    !actr_id_equal(id, again))
			abort();
		actr_proto_free(again);
		actr_proto_free(id);
	}
	if (actr_type_parse(s, &type) == 0)
		actr_proto_free(type);
	free(s);
	env = actr__rpc_envelope__unpack(NULL, size, data);
	if (env) {
		(void)actr_envelope_validate(env);
		actr__rpc_envelope__free_unpacked(env, NULL);
	}
	return 0;
}
