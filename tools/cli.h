/*
 * What the files of the `actr` command share (tools/main.c: options,
 * output, the network commands; tools/store.c: the mailbox and DLQ
 * commands).
 */
#ifndef ACTR_TOOLS_CLI_H
#define ACTR_TOOLS_CLI_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* The command's own flags (main.c's own_flags). */
struct cli_opts {
	bool json;			/* --json */
	unsigned timeout_ms;		/* --timeout */
	unsigned count;			/* --count */
	const char *route;		/* --route */
	unsigned max;			/* --max */
	uint64_t id;			/* --id */
	const char *category;		/* --category */
	unsigned limit;			/* --limit */
	const char *proto;		/* --proto FILE */
	const char *node;		/* --node URL (admin endpoint) */
	const char *token_file;		/* --token-file FILE */
};
extern struct cli_opts cli_opt;

/** An error for people (stderr): what happened, then what to do (hint,
 * or NULL). Returns code. */
int cli_fail(int code, const char *hint, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** A JSON string of s[0..n) to f. */
void cli_json_str(FILE *f, const char *s, size_t n);

/** Bytes as hex, base64 and (if printable) text, in JSON with --json. */
void cli_print_bytes(const char *key, const uint8_t *d, size_t n);

/** `actr mailbox stats|ls FILE` (argv after "mailbox"). Exit status. */
int cli_mailbox(int argc, char **argv);

/** `actr dlq ...` (argv after "dlq"). Exit status. */
int cli_dlq(int argc, char **argv);

#endif
