/*
 * A node's configuration from one file and the command line, and ACL rules
 * written as text.
 *
 * The file has the sections and keys of the Rust system's actr.toml (and
 * manifest.toml's [package]); what this runtime does not use is ignored:
 *
 *   [package]        manufacturer, name, version     the node's ActrType
 *   [signaling]      url                             ws://HOST:PORT (a
 *                                                    trailing /signaling/ws
 *                                                    is accepted)
 *   [deployment]     realm_id, realm_secret
 *   [discovery]      visible                         false: publish the ACL
 *                                                    so the server hides the
 *                                                    node from others
 *   [webrtc]         stun_urls, turn_urls, force_relay, local_addr
 *   [storage]        mailbox_path, mailbox_sync      full | normal | off
 *   [acl]            rules                           see actr_acl_parse
 *   [observability]  filter_level                    error ... trace
 *                    metrics                         HOST:PORT of the
 *                                                    /metrics endpoint
 *                                                    (actr/metrics.h)
 *
 * The syntax is GLib's key file (INI): `key=value`, `#` comments, lists
 * separated by `;`. Values may also be written as in TOML (quoted strings,
 * `["a", "b"]` lists), and `[[...]]` array-of-table sections (actr.toml's
 * [[trust]]) are skipped, so an actr.toml that sticks to these keys loads
 * as it is.
 *
 *   actr_config_t *c = actr_config_new();
 *   if (actr_config_args(c, &argc, argv, err, sizeof(err)) < 0) ...
 *   sys  = actr_system_new(r, actr_config_system(c));
 *   peer = actr_peer_new(node, actr_config_peer(c));
 *
 * Everything the accessors return is owned by the configuration and valid
 * until actr_config_free().
 */
#ifndef ACTR_CONFIG_H
#define ACTR_CONFIG_H

#include <actr/api.h>

#include <stddef.h>

#include <actr/metrics.h>
#include <actr/peer.h>
#include <actr/proto.h>
#include <actr/runtime.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct actr_config actr_config_t;

/** An empty configuration: the library's defaults. NULL on ENOMEM. */
ACTR_API actr_config_t *actr_config_new(void);

ACTR_API void actr_config_free(actr_config_t *c);

/**
 * Read path into c (keys present override what c had). 0, or a negative
 * code with the reason in err ("path:line: ..." or "[section] key: ..."):
 * the negated errno of opening or reading the file, -ACTR_EPROTO for bad
 * syntax or a bad value (a realm that is not a number, an unknown sync
 * mode, a malformed type or ACL rule, a level that is not one).
 */
ACTR_API int actr_config_load(actr_config_t *c, const char *path, char *err,
			      size_t errlen);

/**
 * Apply the standard flags of argv to c, in order, and remove them from
 * argv (*argc shrinks; the program's own arguments stay, argv[0] first):
 *   --config FILE        actr_config_load (later flags override it)
 *   --signaling URL      --realm ID           --realm-secret SECRET
 *   --stun URL, --turn URL (repeatable)       --relay-only
 *   --local-addr IP      --mailbox PATH       --sync full|normal|off
 *   --type MFR:NAME:VER  --acl RULES          --log LEVEL
 *   --hidden             (discovery visible = false)
 *   --metrics HOST:PORT  ([observability] metrics)
 * Also --flag=value. 0, or a negative code with the reason in err
 * (-EINVAL for a flag missing its value, or a bad value).
 */
ACTR_API int actr_config_args(actr_config_t *c, int *argc, char **argv,
			      char *err, size_t errlen);

/** The system configuration: realm_id ([deployment]). */
ACTR_API const actr_system_config_t *actr_config_system(const actr_config_t *c);

/** The peer gate configuration: signaling url, realm secret, ICE servers,
 * relay only, local address, mailbox path and sync, publish_acl. Copy it
 * and add to it as you like (the strings stay c's). */
ACTR_API const actr_peer_config_t *actr_config_peer(const actr_config_t *c);

/** The ACL ([acl] rules, --acl), or NULL when none was given. */
ACTR_API const Actr__Acl *actr_config_acl(const actr_config_t *c);

/** The node's type ([package], --type), or NULL when none was given. */
ACTR_API const Actr__ActrType *actr_config_type(const actr_config_t *c);

/** The log level ([observability] filter_level, --log) or -1 when none
 * was given; actr_config_load and actr_config_args also set it with
 * actr_log_set_level() when they read one. */
ACTR_API int actr_config_log_level(const actr_config_t *c);

/** Where to serve /metrics ([observability] metrics, --metrics) for
 * actr_metrics_new(), or NULL when none was given (the endpoint is off by
 * default). */
ACTR_API const struct actr_metrics_config *actr_config_metrics(
	const actr_config_t *c);

/**
 * ACL rules as text, one per ';' (or newline):
 *   allow acme:client:1.0.0          any realm
 *   deny  acme:rogue:1.0.0 @7        callers of realm 7 only
 *   allow acme:admin:2.0.0 @*        any realm (any_realm = true)
 * Evaluation is PROTOCOL.md section 2's (deny first; an empty rule text is
 * an ACL with zero rules: everyone with an id is denied). A new Acl
 * (release with actr_acl_free), or NULL with the reason in err (errno
 * EINVAL, or ENOMEM).
 */
ACTR_API Actr__Acl *actr_acl_parse(const char *rules, char *err,
				   size_t errlen);

ACTR_API void actr_acl_free(Actr__Acl *acl);

#ifdef __cplusplus
}
#endif
#endif
