/*
 * The proto3 JSON mapping for `actr call --proto F`, driven by the
 * FileDescriptorSet of F (protoc --descriptor_set_out): JSON in, the
 * message's binary encoding out, and back. Field names are accepted as
 * written in the .proto or in lowerCamelCase (json_name); output uses
 * json_name. 64-bit integers print as strings (and parse from either),
 * bytes are base64, enums are names (numbers accepted), maps are
 * objects. Not supported: the well-known types' special forms
 * (Timestamp as a string, Any, wrappers: they read and print as plain
 * messages) and groups.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/protojson.h"

typedef Google__Protobuf__FieldDescriptorProto Field;
typedef Google__Protobuf__DescriptorProto Msg;
typedef Google__Protobuf__EnumDescriptorProto Enum;

/* descriptor.proto's field types, shorter */
#define T_DOUBLE GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_DOUBLE
#define T_FLOAT GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FLOAT
#define T_INT64 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT64
#define T_UINT64 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT64
#define T_INT32 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_INT32
#define T_FIXED64 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED64
#define T_FIXED32 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_FIXED32
#define T_BOOL GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BOOL
#define T_STRING GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_STRING
#define T_GROUP GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_GROUP
#define T_MESSAGE GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_MESSAGE
#define T_BYTES GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_BYTES
#define T_UINT32 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_UINT32
#define T_ENUM GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_ENUM
#define T_SFIXED32 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED32
#define T_SFIXED64 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SFIXED64
#define T_SINT32 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT32
#define T_SINT64 GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__TYPE__TYPE_SINT64
#define REPEATED GOOGLE__PROTOBUF__FIELD_DESCRIPTOR_PROTO__LABEL__LABEL_REPEATED
#define MAX_DEPTH 32

/* ---- descriptors ------------------------------------------------------------ */

struct ctx {
	const Google__Protobuf__FileDescriptorSet *set;
	char *err;			/* the first error */
	size_t errcap;
	bool failed;
};

static int fail(struct ctx *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int fail(struct ctx *c, const char *fmt, ...)
{
	va_list ap;

	if (!c->failed) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errcap, fmt, ap);
		va_end(ap);
		c->failed = true;
	}
	return -1;
}

/* Search msgs (nested in prefix) for the full name want. */
static const void *find_in(const char *prefix, Msg **msgs, size_t n,
			   Enum **enums, size_t ne, const char *want,
			   bool is_enum)
{
	char full[512];

	for (size_t i = 0; is_enum && i < ne; i++) {
		snprintf(full, sizeof(full), "%s%s%s", prefix,
			 *prefix ? "." : "", enums[i]->name);
		if (!strcmp(full, want))
			return enums[i];
	}
	for (size_t i = 0; i < n; i++) {
		const void *r;

		snprintf(full, sizeof(full), "%s%s%s", prefix,
			 *prefix ? "." : "", msgs[i]->name);
		if (!is_enum && !strcmp(full, want))
			return msgs[i];
		if (strncmp(full, want, strlen(full)) ||
		    want[strlen(full)] != '.')
			continue;
		r = find_in(full, msgs[i]->nested_type, msgs[i]->n_nested_type,
			    msgs[i]->enum_type, msgs[i]->n_enum_type, want,
			    is_enum);
		if (r)
			return r;
	}
	return NULL;
}

/* The message or enum called name (leading dot allowed) in the set. */
static const void *lookup(const struct ctx *c, const char *name, bool is_enum)
{
	if (*name == '.')
		name++;
	for (size_t i = 0; i < c->set->n_file; i++) {
		const Google__Protobuf__FileDescriptorProto *f =
			c->set->file[i];
		const void *r = find_in(f->package ? f->package : "",
					f->message_type, f->n_message_type,
					f->enum_type, f->n_enum_type, name,
					is_enum);
		if (r)
			return r;
	}
	return NULL;
}

static bool is_map(const struct ctx *c, const Field *f, const Msg **entry)
{
	const Msg *m;

	if (f->label != REPEATED || f->type != T_MESSAGE)
		return false;
	m = lookup(c, f->type_name, false);
	if (!m || !m->options || !m->options->map_entry || m->n_field != 2)
		return false;
	*entry = m;
	return true;
}

/* lowerCamelCase of a .proto field name (protoc's json_name rule). */
static void camel(const char *name, char *out, size_t cap)
{
	size_t o = 0;
	bool up = false;

	for (; *name && o + 1 < cap; name++) {
		if (*name == '_') {
			up = true;
			continue;
		}
		out[o++] = up ? (char)toupper((unsigned char)*name) : *name;
		up = false;
	}
	out[o] = 0;
}

static const char *json_name(const Field *f, char *buf, size_t cap)
{
	if (f->json_name)
		return f->json_name;
	camel(f->name, buf, cap);
	return buf;
}

static const Field *field_by_name(const Msg *m, const char *key)
{
	char jn[256];

	for (size_t i = 0; i < m->n_field; i++)
		if (!strcmp(m->field[i]->name, key) ||
		    !strcmp(json_name(m->field[i], jn, sizeof(jn)), key))
			return m->field[i];
	return NULL;
}

/* ---- bytes out ------------------------------------------------------------ */

struct buf {
	uint8_t *d;
	size_t n, cap;
	bool oom;
};

static void put(struct buf *b, const void *p, size_t n)
{
	if (b->oom || !n)
		return;
	if (b->n + n > b->cap) {
		size_t cap = (b->n + n) * 2 + 64;
		uint8_t *nd = realloc(b->d, cap);

		if (!nd) {
			b->oom = true;
			return;
		}
		b->d = nd;
		b->cap = cap;
	}
	memcpy(b->d + b->n, p, n);
	b->n += n;
}

static void put_varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;

	do {
		t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(b, t, n);
}

static void put_tag(struct buf *b, int num, int wt)
{
	put_varint(b, ((uint64_t)num << 3) | (unsigned)wt);
}

static void putf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void putf(struct buf *b, const char *fmt, ...)
{
	char t[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	if (n > 0)
		put(b, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}

/* ---- JSON in ---------------------------------------------------------------- */

struct js {
	const char *p;			/* next character */
	struct ctx *c;
};

static void ws(struct js *j)
{
	while (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' ||
	       *j->p == '\r')
		j->p++;
}

static bool eat(struct js *j, char ch)
{
	ws(j);
	if (*j->p != ch)
		return false;
	j->p++;
	return true;
}

/* A JSON string into b (UTF-8, escapes decoded, NUL-terminated). */
static int jstring(struct js *j, struct buf *b)
{
	ws(j);
	if (*j->p != '"')
		return fail(j->c, "expected a string at '%.20s'", j->p);
	j->p++;
	while (*j->p != '"') {
		unsigned ch = (unsigned char)*j->p++;

		if (!ch || ch < 0x20)
			return fail(j->c, "unterminated string");
		if (ch != '\\') {
			put(b, &ch, 1);
			continue;
		}
		ch = (unsigned char)*j->p++;
		switch (ch) {
		case 'n': put(b, "\n", 1); break;
		case 't': put(b, "\t", 1); break;
		case 'r': put(b, "\r", 1); break;
		case 'b': put(b, "\b", 1); break;
		case 'f': put(b, "\f", 1); break;
		case '"': case '\\': case '/': put(b, &ch, 1); break;
		case 'u': {
			unsigned u = 0;
			uint8_t o[4];

			for (int i = 0; i < 4; i++) {
				int h = *j->p++;

				if (!isxdigit(h))
					return fail(j->c, "bad \\u escape");
				u = u * 16 + (unsigned)(isdigit(h) ? h - '0' :
					      (tolower(h) - 'a' + 10));
			}
			/* surrogate pairs are not joined: rare in payloads */
			if (u < 0x80) {
				o[0] = (uint8_t)u;
				put(b, o, 1);
			} else if (u < 0x800) {
				o[0] = (uint8_t)(0xc0 | (u >> 6));
				o[1] = (uint8_t)(0x80 | (u & 0x3f));
				put(b, o, 2);
			} else {
				o[0] = (uint8_t)(0xe0 | (u >> 12));
				o[1] = (uint8_t)(0x80 | ((u >> 6) & 0x3f));
				o[2] = (uint8_t)(0x80 | (u & 0x3f));
				put(b, o, 3);
			}
			break;
		}
		default:
			return fail(j->c, "bad escape \\%c", ch);
		}
	}
	j->p++;
	put(b, "", 1);
	b->n--;
	return 0;
}

/* A number or a quoted number (int64 and friends may be strings) as
 * text into t. */
static int jnumtext(struct js *j, char *t, size_t cap)
{
	size_t n = 0;
	bool q;

	ws(j);
	q = *j->p == '"';
	if (q)
		j->p++;
	while (*j->p && (isalnum((unsigned char)*j->p) || *j->p == '-' ||
			 *j->p == '+' || *j->p == '.') && n + 1 < cap)
		t[n++] = *j->p++;
	t[n] = 0;
	if (q && *j->p++ != '"')
		return fail(j->c, "unterminated number string");
	return n ? 0 : fail(j->c, "expected a number at '%.20s'", j->p);
}

static int b64val(int ch)
{
	if (ch >= 'A' && ch <= 'Z') return ch - 'A';
	if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9') return ch - '0' + 52;
	if (ch == '+' || ch == '-') return 62;
	if (ch == '/' || ch == '_') return 63;
	return -1;
}

/* base64 (standard or URL-safe, padding optional) s into out. */
static int unbase64(struct ctx *c, const char *s, size_t n, struct buf *out)
{
	unsigned acc = 0;
	int bits = 0;

	for (size_t i = 0; i < n && s[i] != '='; i++) {
		int v = b64val((unsigned char)s[i]);
		uint8_t o;

		if (v < 0)
			return fail(c, "bytes must be base64");
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			o = (uint8_t)(acc >> bits);
			put(out, &o, 1);
		}
	}
	return 0;
}

static int enc_msg(struct js *j, const Msg *m, struct buf *out, int depth);

/* One value of field f (not a list) encoded with its tag into out. */
static int enc_value(struct js *j, const Field *f, struct buf *out,
		     int depth)
{
	char t[128], *end;
	struct buf s = { 0 };
	int rc = 0;

	ws(j);
	switch (f->type) {
	case T_STRING:
	case T_BYTES:
		if (jstring(j, &s) < 0)
			break;
		put_tag(out, f->number, 2);
		if (f->type == T_STRING) {
			put_varint(out, s.n);
			put(out, s.d, s.n);
		} else {
			struct buf raw = { 0 };

			rc = unbase64(j->c, (const char *)s.d, s.n, &raw);
			put_varint(out, raw.n);
			put(out, raw.d, raw.n);
			free(raw.d);
		}
		free(s.d);
		return rc;
	case T_MESSAGE: {
		const Msg *sub = lookup(j->c, f->type_name, false);

		if (!sub)
			return fail(j->c, "type %s not in the file",
				    f->type_name);
		if (enc_msg(j, sub, &s, depth + 1) < 0) {
			free(s.d);
			return -1;
		}
		put_tag(out, f->number, 2);
		put_varint(out, s.n);
		put(out, s.d, s.n);
		free(s.d);
		return 0;
	}
	case T_BOOL:
		if (!strncmp(j->p, "true", 4) || !strncmp(j->p, "false", 5)) {
			bool v = *j->p == 't';

			j->p += v ? 4 : 5;
			put_tag(out, f->number, 0);
			put_varint(out, v);
			return 0;
		}
		return fail(j->c, "field %s: expected true or false", f->name);
	case T_ENUM:
		if (*j->p == '"') {
			const Enum *e = lookup(j->c, f->type_name, true);

			if (jstring(j, &s) < 0)
				break;
			for (size_t i = 0; e && i < e->n_value; i++)
				if (!strcmp(e->value[i]->name, (char *)s.d)) {
					put_tag(out, f->number, 0);
					put_varint(out, (uint64_t)(int64_t)
						   e->value[i]->number);
					free(s.d);
					return 0;
				}
			rc = fail(j->c, "field %s: no value %s in enum %s",
				  f->name, (char *)s.d, f->type_name);
			free(s.d);
			return rc;
		}
		break;
	default:
		break;
	}
	free(s.d);
	if (j->c->failed)
		return -1;
	if (jnumtext(j, t, sizeof(t)) < 0)
		return -1;
	errno = 0;
	switch (f->type) {
	case T_DOUBLE:
	case T_FLOAT: {
		double d = !strcmp(t, "NaN") ? NAN :
			   !strcmp(t, "Infinity") ? INFINITY :
			   !strcmp(t, "-Infinity") ? -INFINITY : strtod(t, &end);

		if (isfinite(d) && (*end || errno))
			break;
		if (f->type == T_DOUBLE) {
			put_tag(out, f->number, 1);
			put(out, &d, 8);	/* little-endian hosts */
		} else {
			float fl = (float)d;

			put_tag(out, f->number, 5);
			put(out, &fl, 4);
		}
		return 0;
	}
	case T_UINT64:
	case T_FIXED64:
	case T_UINT32:
	case T_FIXED32: {
		unsigned long long v = strtoull(t, &end, 10);

		if (*end || errno || t[0] == '-' ||
		    ((f->type == T_UINT32 || f->type == T_FIXED32) &&
		     v > UINT32_MAX))
			break;
		if (f->type == T_FIXED64) {
			uint64_t x = v;

			put_tag(out, f->number, 1);
			put(out, &x, 8);
		} else if (f->type == T_FIXED32) {
			uint32_t x = (uint32_t)v;

			put_tag(out, f->number, 5);
			put(out, &x, 4);
		} else {
			put_tag(out, f->number, 0);
			put_varint(out, v);
		}
		return 0;
	}
	default: {			/* signed integers and enum numbers */
		long long v = strtoll(t, &end, 10);
		bool w32 = f->type == T_INT32 || f->type == T_SINT32 ||
			   f->type == T_SFIXED32 || f->type == T_ENUM;

		if (*end || errno || (w32 && (v > INT32_MAX || v < INT32_MIN)))
			break;
		if (f->type == T_SINT32 || f->type == T_SINT64) {
			put_tag(out, f->number, 0);
			put_varint(out, ((uint64_t)v << 1) ^
					(uint64_t)(v >> 63));
		} else if (f->type == T_SFIXED32) {
			int32_t x = (int32_t)v;

			put_tag(out, f->number, 5);
			put(out, &x, 4);
		} else if (f->type == T_SFIXED64) {
			int64_t x = v;

			put_tag(out, f->number, 1);
			put(out, &x, 8);
		} else {
			put_tag(out, f->number, 0);
			put_varint(out, (uint64_t)v);
		}
		return 0;
	}
	}
	return fail(j->c, "field %s: '%s' is not a valid value of its type",
		    f->name, t);
}

/* A map field: a JSON object of key -> value, each an entry message. */
static int enc_map(struct js *j, const Field *f, const Msg *entry,
		   struct buf *out, int depth)
{
	const Field *kf = entry->field[0]->number == 1 ? entry->field[0]
						       : entry->field[1];
	const Field *vf = kf == entry->field[0] ? entry->field[1]
						: entry->field[0];

	if (!eat(j, '{'))
		return fail(j->c, "field %s: a map is a JSON object", f->name);
	if (eat(j, '}'))
		return 0;
	do {
		struct buf e = { 0 }, key = { 0 };
		char *q;
		struct js kj;
		int rc;

		if (jstring(j, &key) < 0 || !eat(j, ':')) {
			free(key.d);
			return fail(j->c, "field %s: bad map entry", f->name);
		}
		/* the key is a JSON string: parse it as its own value */
		q = malloc(key.n + 3);
		if (!q) {
			free(key.d);
			return fail(j->c, "out of memory");
		}
		if (kf->type == T_STRING)
			snprintf(q, key.n + 3, "\"%s\"", (char *)key.d);
		else
			snprintf(q, key.n + 3, "%s", (char *)key.d);
		free(key.d);
		kj.p = q;
		kj.c = j->c;
		rc = enc_value(&kj, kf, &e, depth);
		free(q);
		if (rc == 0)
			rc = enc_value(j, vf, &e, depth);
		if (rc == 0) {
			put_tag(out, f->number, 2);
			put_varint(out, e.n);
			put(out, e.d, e.n);
		}
		free(e.d);
		if (rc < 0)
			return -1;
	} while (eat(j, ','));
	return eat(j, '}') ? 0 : fail(j->c, "field %s: expected } or ,",
				      f->name);
}

static int enc_msg(struct js *j, const Msg *m, struct buf *out, int depth)
{
	if (depth > MAX_DEPTH)
		return fail(j->c, "nested too deep");
	if (!eat(j, '{'))
		return fail(j->c, "%s: expected a JSON object at '%.20s'",
			    m->name, j->p);
	if (eat(j, '}'))
		return 0;
	do {
		struct buf key = { 0 };
		const Field *f;
		const Msg *entry;
		int rc;

		if (jstring(j, &key) < 0)
			return -1;
		if (!eat(j, ':')) {
			free(key.d);
			return fail(j->c, "expected : after a key");
		}
		f = field_by_name(m, (char *)key.d);
		if (!f) {
			rc = fail(j->c, "%s has no field \"%s\"", m->name,
				  (char *)key.d);
			free(key.d);
			return rc;
		}
		free(key.d);
		ws(j);
		if (!strncmp(j->p, "null", 4)) {
			j->p += 4;	/* the default: nothing to send */
		} else if (is_map(j->c, f, &entry)) {
			if (enc_map(j, f, entry, out, depth) < 0)
				return -1;
		} else if (f->label == REPEATED) {
			if (!eat(j, '['))
				return fail(j->c, "field %s is repeated: "
					    "give a JSON array", f->name);
			if (!eat(j, ']')) {
				do {
					if (enc_value(j, f, out, depth) < 0)
						return -1;
				} while (eat(j, ','));
				if (!eat(j, ']'))
					return fail(j->c, "field %s: expected"
						    " ] or ,", f->name);
			}
		} else if (enc_value(j, f, out, depth) < 0) {
			return -1;
		}
	} while (eat(j, ','));
	return eat(j, '}') ? 0 : fail(j->c, "%s: expected } or , at '%.20s'",
				      m->name, j->p);
}

int actr__pj_encode(const Google__Protobuf__FileDescriptorSet *set,
		    const char *type, const char *json, uint8_t **out,
		    size_t *len, char *err, size_t errcap)
{
	struct ctx c = { set, err, errcap, false };
	struct js j = { json, &c };
	struct buf b = { 0 };
	const Msg *m = lookup(&c, type, false);

	if (!m)
		return fail(&c, "type %s not in the file", type);
	if (enc_msg(&j, m, &b, 0) < 0)
		goto fail;
	ws(&j);
	if (*j.p) {
		fail(&c, "text after the JSON object: '%.20s'", j.p);
		goto fail;
	}
	if (b.oom) {
		fail(&c, "out of memory");
		goto fail;
	}
	*out = b.d ? b.d : malloc(1);
	*len = b.n;
	return *out ? 0 : fail(&c, "out of memory");
fail:
	free(b.d);
	return -1;
}

/* ---- binary in, JSON out ---------------------------------------------------- */

struct rd {
	const uint8_t *p, *end;
};

static bool get_varint(struct rd *r, uint64_t *v)
{
	*v = 0;
	for (int s = 0; s < 64 && r->p < r->end; s += 7) {
		uint8_t b = *r->p++;

		*v |= (uint64_t)(b & 0x7f) << s;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/* The next field: number, wire type and its value (varint in v, or the
 * bytes at d, n for fixed and length-delimited). */
static bool next_field(struct rd *r, int *num, int *wt, uint64_t *v,
		       const uint8_t **d, size_t *n)
{
	uint64_t tag;

	if (!get_varint(r, &tag) || (tag >> 3) == 0 || (tag >> 3) > INT32_MAX)
		return false;
	*num = (int)(tag >> 3);
	*wt = (int)(tag & 7);
	switch (*wt) {
	case 0:
		return get_varint(r, v);
	case 1:
	case 5:
		*n = *wt == 1 ? 8 : 4;
		if ((size_t)(r->end - r->p) < *n)
			return false;
		*d = r->p;
		r->p += *n;
		return true;
	case 2:
		if (!get_varint(r, v) || *v > (uint64_t)(r->end - r->p))
			return false;
		*d = r->p;
		*n = (size_t)*v;
		r->p += *n;
		return true;
	default:
		return false;		/* groups are not supported */
	}
}

static void json_out_str(struct buf *o, const uint8_t *s, size_t n)
{
	put(o, "\"", 1);
	for (size_t i = 0; i < n; i++) {
		uint8_t ch = s[i];

		if (ch == '"' || ch == '\\')
			putf(o, "\\%c", ch);
		else if (ch < 0x20)
			putf(o, "\\u%04x", ch);
		else
			put(o, &ch, 1);
	}
	put(o, "\"", 1);
}

static void base64_out(struct buf *o, const uint8_t *d, size_t n)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				"qrstuvwxyz0123456789+/";

	put(o, "\"", 1);
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16;
		char t[4];

		if (i + 1 < n)
			v |= (uint32_t)d[i + 1] << 8;
		if (i + 2 < n)
			v |= d[i + 2];
		t[0] = a[v >> 18];
		t[1] = a[(v >> 12) & 63];
		t[2] = i + 1 < n ? a[(v >> 6) & 63] : '=';
		t[3] = i + 2 < n ? a[v & 63] : '=';
		put(o, t, 4);
	}
	put(o, "\"", 1);
}

static int dec_msg(struct ctx *c, const Msg *m, const uint8_t *d, size_t n,
		   struct buf *o, int depth);

/* One scalar or message value of f (wire value v / d,n) as JSON. */
static int dec_value(struct ctx *c, const Field *f, int wt, uint64_t v,
		     const uint8_t *d, size_t n, struct buf *o, int depth)
{
	uint32_t u32;
	uint64_t u64;

	if (wt == 1) {
		memcpy(&u64, d, 8);
		v = u64;
	} else if (wt == 5) {
		memcpy(&u32, d, 4);
		v = u32;
	}
	switch (f->type) {
	case T_STRING:
		if (wt != 2)
			break;
		json_out_str(o, d, n);
		return 0;
	case T_BYTES:
		if (wt != 2)
			break;
		base64_out(o, d, n);
		return 0;
	case T_MESSAGE: {
		const Msg *sub = lookup(c, f->type_name, false);

		if (wt != 2 || !sub)
			break;
		return dec_msg(c, sub, d, n, o, depth + 1);
	}
	case T_DOUBLE: {
		double x;

		memcpy(&x, &v, 8);
		if (isfinite(x))
			putf(o, "%.17g", x);
		else
			putf(o, "\"%s\"", isnan(x) ? "NaN" : x > 0 ?
			     "Infinity" : "-Infinity");
		return 0;
	}
	case T_FLOAT: {
		float x;

		u32 = (uint32_t)v;
		memcpy(&x, &u32, 4);
		if (isfinite(x))
			putf(o, "%.9g", (double)x);
		else
			putf(o, "\"%s\"", isnan(x) ? "NaN" : x > 0 ?
			     "Infinity" : "-Infinity");
		return 0;
	}
	case T_BOOL:
		putf(o, "%s", v ? "true" : "false");
		return 0;
	case T_INT64:
	case T_SFIXED64:
		putf(o, "\"%" PRId64 "\"", (int64_t)v);
		return 0;
	case T_UINT64:
	case T_FIXED64:
		putf(o, "\"%" PRIu64 "\"", v);
		return 0;
	case T_SINT64:
		putf(o, "\"%" PRId64 "\"", (int64_t)((v >> 1) ^ -(v & 1)));
		return 0;
	case T_SINT32:
		putf(o, "%" PRId32, (int32_t)(uint32_t)((v >> 1) ^ -(v & 1)));
		return 0;
	case T_UINT32:
	case T_FIXED32:
		putf(o, "%" PRIu32, (uint32_t)v);
		return 0;
	case T_ENUM: {
		const Enum *e = lookup(c, f->type_name, true);

		for (size_t i = 0; e && i < e->n_value; i++)
			if (e->value[i]->number == (int32_t)v) {
				putf(o, "\"%s\"", e->value[i]->name);
				return 0;
			}
		putf(o, "%" PRId32, (int32_t)v);
		return 0;
	}
	default:			/* int32, sfixed32 */
		putf(o, "%" PRId32, (int32_t)v);
		return 0;
	}
	return fail(c, "field %s: wire type %d does not fit its type",
		    f->name, wt);
}

/* Scalars of f packed in d[0..n) (a repeated numeric field). */
static int dec_packed(struct ctx *c, const Field *f, const uint8_t *d,
		      size_t n, struct buf *o, bool *first, int depth)
{
	struct rd r = { d, d + n };
	int wt = f->type == T_DOUBLE || f->type == T_FIXED64 ||
		 f->type == T_SFIXED64 ? 1 :
		 f->type == T_FLOAT || f->type == T_FIXED32 ||
		 f->type == T_SFIXED32 ? 5 : 0;

	while (r.p < r.end) {
		uint64_t v = 0;
		const uint8_t *x = r.p;

		if (wt == 0 && !get_varint(&r, &v))
			return fail(c, "field %s: bad packed value", f->name);
		if (wt) {
			size_t k = wt == 1 ? 8 : 4;

			if ((size_t)(r.end - r.p) < k)
				return fail(c, "field %s: bad packed value",
					    f->name);
			r.p += k;
		}
		if (!*first)
			put(o, ",", 1);
		*first = false;
		if (dec_value(c, f, wt, v, x, 0, o, depth) < 0)
			return -1;
	}
	return 0;
}

static int dec_msg(struct ctx *c, const Msg *m, const uint8_t *d, size_t n,
		   struct buf *o, int depth)
{
	bool any = false;
	char jn[256];
	struct rd r = { d, d + n };
	int num, wt;
	uint64_t v;
	const uint8_t *x;
	size_t xn;

	if (depth > MAX_DEPTH)
		return fail(c, "nested too deep");
	/* the whole message must parse, unknown fields included */
	while (r.p < r.end)
		if (!next_field(&r, &num, &wt, &v, &x, &xn))
			return fail(c, "not a valid %s (bad field encoding)",
				    m->name);
	put(o, "{", 1);
	/* field by field in declaration order: the occurrences of a
	 * repeated field may be spread over the message */
	for (size_t i = 0; i < m->n_field; i++) {
		const Field *f = m->field[i];
		const Msg *entry = NULL;
		bool rep = f->label == REPEATED, map = is_map(c, f, &entry);
		bool first = true, seen = false;
		size_t last_at = 0;

		/* a singular field: the last occurrence wins */
		r = (struct rd){ d, d + n };
		while (r.p < r.end) {
			const uint8_t *at = r.p;

			next_field(&r, &num, &wt, &v, &x, &xn);
			if (num == f->number) {
				seen = true;
				last_at = (size_t)(at - d);
			}
		}
		if (!seen)
			continue;
		putf(o, "%s\"%s\":", any ? "," : "",
		     json_name(f, jn, sizeof(jn)));
		any = true;
		if (!rep) {
			r = (struct rd){ d + last_at, d + n };
			next_field(&r, &num, &wt, &v, &x, &xn);
			if (dec_value(c, f, wt, v, x, xn, o, depth) < 0)
				return -1;
			continue;
		}
		put(o, map ? "{" : "[", 1);
		r = (struct rd){ d, d + n };
		while (r.p < r.end) {
			next_field(&r, &num, &wt, &v, &x, &xn);
			if (num != f->number)
				continue;
			if (map) {
				/* {"key": value} from the entry message */
				struct rd er = { x, x + xn };
				struct buf kb = { 0 };
				int en, ew;
				uint64_t ev;
				const uint8_t *ex;
				size_t exn;
				const Field *kf = entry->field[0]->number == 1
						  ? entry->field[0]
						  : entry->field[1];
				const Field *vf = kf == entry->field[0]
						  ? entry->field[1]
						  : entry->field[0];
				bool have_v = false;
				int vw = 0;
				uint64_t vv = 0;
				const uint8_t *vx = NULL;
				size_t vxn = 0;

				while (er.p < er.end &&
				       next_field(&er, &en, &ew, &ev, &ex,
						  &exn)) {
					if (en == kf->number) {
						kb.n = 0;
						if (dec_value(c, kf, ew, ev, ex,
							      exn, &kb,
							      depth) < 0) {
							free(kb.d);
							return -1;
						}
					} else if (en == vf->number) {
						have_v = true;
						vw = ew;
						vv = ev;
						vx = ex;
						vxn = exn;
					}
				}
				if (!first)
					put(o, ",", 1);
				first = false;
				if (!kb.n)
					put(o, "\"\"", 2);
				else if (kb.d[0] == '"')
					put(o, kb.d, kb.n);
				else
					putf(o, "\"%.*s\"", (int)kb.n,
					     (char *)kb.d);
				free(kb.d);
				put(o, ":", 1);
				if (!have_v)
					put(o, vf->type == T_MESSAGE ? "{}" :
					    vf->type == T_STRING ? "\"\"" :
					    "0", vf->type == T_STRING ||
					    vf->type == T_MESSAGE ? 2 : 1);
				else if (dec_value(c, vf, vw, vv, vx, vxn, o,
						   depth) < 0)
					return -1;
				continue;
			}
			if (wt == 2 && f->type != T_STRING &&
			    f->type != T_BYTES && f->type != T_MESSAGE) {
				if (dec_packed(c, f, x, xn, o, &first,
					       depth) < 0)
					return -1;
				continue;
			}
			if (!first)
				put(o, ",", 1);
			first = false;
			if (dec_value(c, f, wt, v, x, xn, o, depth) < 0)
				return -1;
		}
		put(o, map ? "}" : "]", 1);
	}
	put(o, "}", 1);
	return 0;
}

int actr__pj_decode(const Google__Protobuf__FileDescriptorSet *set,
		    const char *type, const uint8_t *data, size_t len,
		    char **out, char *err, size_t errcap)
{
	struct ctx c = { set, err, errcap, false };
	struct buf o = { 0 };
	const Msg *m = lookup(&c, type, false);

	if (!m)
		return fail(&c, "type %s not in the file", type);
	if (dec_msg(&c, m, data, len, &o, 0) < 0 || o.oom) {
		if (o.oom)
			fail(&c, "out of memory");
		free(o.d);
		return -1;
	}
	put(&o, "", 1);
	if (o.oom) {
		free(o.d);
		return fail(&c, "out of memory");
	}
	*out = (char *)o.d;
	return 0;
}
