/*
 * String forms of ActrType ("manufacturer:name:version") and ActrId
 * ("<serial hex>@<realm>/<type>"), PROTOCOL.md section 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <actr/error.h>
#include <actr/proto.h>

/* A type field: non-empty, bounded, no separators or control bytes. */
static bool field_ok(const char *s, size_t n)
{
	if (!s || n == 0 || n > ACTR_TYPE_FIELD_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c == 0x7f || c == ':' || c == '/' || c == '@')
			return false;
	}
	return true;
}

int actr_type_format(const Actr__ActrType *t, char *out, size_t cap)
{
	int n;

	if (!t || !t->manufacturer || !t->name || !t->version ||
	    !field_ok(t->manufacturer, strlen(t->manufacturer)) ||
	    !field_ok(t->name, strlen(t->name)) ||
	    !field_ok(t->version, strlen(t->version)))
		return -EINVAL;
	n = snprintf(out, cap, "%s:%s:%s", t->manufacturer, t->name,
		     t->version);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

static char *dup_n(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* Parse s[0..n) as a type into a new message. */
static int type_parse_n(const char *s, size_t n, Actr__ActrType **out)
{
	const char *c1, *c2, *end = s + n;
	Actr__ActrType *t;

	c1 = memchr(s, ':', n);
	if (!c1)
		return -EINVAL;
	c2 = memchr(c1 + 1, ':', (size_t)(end - c1 - 1));
	if (!c2 || memchr(c2 + 1, ':', (size_t)(end - c2 - 1)))
		return -EINVAL;
	if (!field_ok(s, (size_t)(c1 - s)) ||
	    !field_ok(c1 + 1, (size_t)(c2 - c1 - 1)) ||
	    !field_ok(c2 + 1, (size_t)(end - c2 - 1)))
		return -EINVAL;
	t = malloc(sizeof(*t));
	if (!t)
		return -ENOMEM;
	actr__actr_type__init(t);
	t->manufacturer = dup_n(s, (size_t)(c1 - s));
	t->name = dup_n(c1 + 1, (size_t)(c2 - c1 - 1));
	t->version = dup_n(c2 + 1, (size_t)(end - c2 - 1));
	if (!t->manufacturer || !t->name || !t->version) {
		actr_proto_free(t);
		return -ENOMEM;
	}
	*out = t;
	return 0;
}

int actr_type_parse(const char *s, Actr__ActrType **out)
{
	if (!s || !out)
		return -EINVAL;
	return type_parse_n(s, strnlen(s, ACTR_TYPE_STR_MAX + 1), out);
}

int actr_id_format(const Actr__ActrId *id, char *out, size_t cap)
{
	char type[ACTR_TYPE_STR_MAX + 1];
	int n;

	if (!id || !id->realm)
		return -EINVAL;
	n = actr_type_format(id->type, type, sizeof(type));
	if (n < 0)
		return n;
	n = snprintf(out, cap, "%llx@%u/%s",
		     (unsigned long long)id->serial_number, id->realm->realm_id,
		     type);
	if (n < 0 || (size_t)n >= cap)
		return -ENOSPC;
	return n;
}

int actr_id_parse(const char *s, Actr__ActrId **out)
{
	const char *at, *slash, *p;
	uint64_t serial = 0, realm = 0;
	size_t n;
	Actr__ActrId *id;
	int rc;

	if (!s || !out)
		return -EINVAL;
	n = strnlen(s, ACTR_ID_STR_MAX + 1);
	if (n > ACTR_ID_STR_MAX)
		return -EINVAL;
	at = memchr(s, '@', n);
	if (!at || at == s || at - s > 16)
		return -EINVAL;
	for (p = s; p < at; p++) {
		int v;

		if (*p >= '0' && *p <= '9')
			v = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			v = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			v = *p - 'A' + 10;
		else
			return -EINVAL;
		serial = serial << 4 | (uint64_t)v;
	}
	slash = memchr(at, '/', n - (size_t)(at - s));
	if (!slash || slash == at + 1 || slash - at - 1 > 10)
		return -EINVAL;
	for (p = at + 1; p < slash; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		realm = realm * 10 + (uint64_t)(*p - '0');
	}
	if (realm > UINT32_MAX)
		return -EINVAL;

	id = malloc(sizeof(*id));
	if (!id)
		return -ENOMEM;
	actr__actr_id__init(id);
	id->serial_number = serial;
	id->realm = malloc(sizeof(*id->realm));
	if (!id->realm) {
		actr_proto_free(id);
		return -ENOMEM;
	}
	actr__realm__init(id->realm);
	id->realm->realm_id = (uint32_t)realm;
	rc = type_parse_n(slash + 1, n - (size_t)(slash + 1 - s), &id->type);
	if (rc < 0) {
		actr_proto_free(id);
		return rc;
	}
	*out = id;
	return 0;
}

void actr_proto_free(void *msg)
{
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
}

Actr__ActrId *actr_id_dup(const Actr__ActrId *id)
{
	char buf[ACTR_ID_STR_MAX + 1];
	Actr__ActrId *copy = NULL;

	/* Through the string form: validates and copies in one go. */
	if (actr_id_format(id, buf, sizeof(buf)) < 0 ||
	    actr_id_parse(buf, &copy) < 0)
		return NULL;
	return copy;
}

static bool str_eq(const char *a, const char *b)
{
	return a && b && strcmp(a, b) == 0;
}

bool actr_type_equal(const Actr__ActrType *a, const Actr__ActrType *b)
{
	if (a == b)
		return true;
	return a && b && str_eq(a->manufacturer, b->manufacturer) &&
	       str_eq(a->name, b->name) && str_eq(a->version, b->version);
}

bool actr_id_equal(const Actr__ActrId *a, const Actr__ActrId *b)
{
	if (a == b)
		return true;
	return a && b && a->realm && b->realm &&
	       a->realm->realm_id == b->realm->realm_id &&
	       a->serial_number == b->serial_number &&
	       actr_type_equal(a->type, b->type);
}
