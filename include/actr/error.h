/*
 * actr error codes.
 *
 * Every action in the library returns 0 on success or a negative code;
 * predicates return bool and constructors NULL. One meaning has one code,
 * so a caller tests one spelling wherever the event happens:
 *
 * - A negated errno value only where the C library already has the word:
 *   the caller got an argument or a call order wrong, memory or a buffer
 *   ran out, or the operating system (a socket, a file, SQLite's file
 *   layer) reported the error, which is passed through as it came.
 * - A negated ACTR_E* value for every meaning of the runtime and its
 *   protocols, even where errno has a similar word: a timeout is always
 *   -ACTR_ETIMEDOUT (a kernel ETIMEDOUT on a TCP connection is mapped to
 *   it), a missing thing always -ACTR_ENOTFOUND, bytes from a peer that
 *   break a protocol always -ACTR_EPROTO (never -EINVAL: -EINVAL means
 *   the caller erred).
 *
 *   meaning                                         code
 *   ----------------------------------------------  -------------------
 *   bad argument or call order from the caller      -EINVAL
 *   already started / already in progress           -EALREADY
 *   name or route already taken                     -EEXIST
 *   held by someone else (locked file, a second     -EBUSY
 *     reactor's SCTP stack, a request in flight)
 *   out of memory                                   -ENOMEM
 *   the caller's buffer or a fixed table is full;   -ENOSPC
 *     disk full
 *   an output queue is full (back-pressure, retry)  -ENOBUFS
 *   the peer aborted the connection (TCP RST,       -ECONNRESET
 *     SCTP ABORT)
 *   the peer refused the connection                 -ECONNREFUSED
 *   feature not supported (mDNS/TCP candidates)     -ENOTSUP
 *   other OS errors, as the kernel gave them        -EIO, -EACCES, -EPIPE..
 *   internal only, never returned by a public       -EAGAIN
 *     function: would block / need more bytes
 *   ----------------------------------------------  -------------------
 *   a deadline passed (call, connect, handshake,    -ACTR_ETIMEDOUT
 *     association or consent lost, drain)
 *   no such actor, route, method, key, header       -ACTR_ENOTFOUND
 *     or object
 *   a peer's bytes break a protocol (malformed      -ACTR_EPROTO
 *     envelope, SDP, HTTP, WebSocket, fragment)
 *   over a limit, configured or the protocol's      -ACTR_ETOOBIG
 *     (message, record, datagram, header)
 *   the object is closed or shutting down           -ACTR_ECLOSED
 *   the connection is not open yet                  -ACTR_ENOTREADY
 *   the target cannot be reached or is not running  -ACTR_EUNAVAILABLE
 *   stored data is corrupt or not ours              -ACTR_ECORRUPT
 *   authentication failed (credential, DTLS         -ACTR_EAUTH
 *     fingerprint)
 *   denied by an ACL                                -ACTR_EPERM
 *   the server asked us to retry later (HTTP 429)   -ACTR_EAGAIN
 *   the operation was canceled (stopped)            -ACTR_ECANCELED
 *   a call's reply carried an error                 its wire code
 *
 * The ACTR_E* values 10001..10011 are the codes the actr wire protocol
 * carries in ErrorResponse.code (PROTOCOL.md section 6), so a runtime
 * error can be put on the wire unchanged and a reply's code reaches the
 * caller as its status: -ACTR_EINVALARG is what a remote handler or
 * runtime answered about our request (our own caller's mistake stays
 * -EINVAL), -ACTR_EDECODE a payload the handler could not decode (the
 * envelope around it was fine), -ACTR_EUNKNOWNROUTE a route key nobody
 * registered. actr_strerror() names every ACTR_E* value.
 */
#ifndef ACTR_ERROR_H
#define ACTR_ERROR_H

#include <actr/api.h>

#ifdef __cplusplus
extern "C" {
#endif

enum {
	ACTR_EUNAVAILABLE = 10001,	/* target unavailable */
	ACTR_ETIMEDOUT = 10002,		/* a deadline passed */
	ACTR_ENOTFOUND = 10003,		/* no such actor or object */
	ACTR_EPERM = 10004,		/* denied by ACL */
	ACTR_EINVALARG = 10005,		/* invalid argument from a peer */
	ACTR_EUNKNOWNROUTE = 10006,	/* route key not registered */
	ACTR_EDEPNOTFOUND = 10007,	/* dependency not found */
	ACTR_EDECODE = 10008,		/* payload could not be decoded */
	ACTR_ENOTIMPL = 10009,		/* not implemented */
	ACTR_EINTERNAL = 10010,		/* internal error */
	ACTR_ENOTREADY = 10011,		/* connection not ready */

	ACTR_EPROTO = 10100,		/* peer violated a protocol */
	ACTR_ETOOBIG = 10101,		/* exceeds a configured or protocol limit */
	ACTR_ECLOSED = 10102,		/* object closed / shutting down */
	ACTR_ECORRUPT = 10103,		/* stored data is corrupt or foreign */
	ACTR_EAUTH = 10104,		/* authentication failed */
	ACTR_EAGAIN = 10105,		/* asked to retry later (rate limited) */
	ACTR_ECANCELED = 10106,		/* operation canceled */
};

/**
 * Name an error code. Accepts the negative codes functions return (or
 * their positive value). Never returns NULL; thread-safe.
 */
ACTR_API const char *actr_strerror(int code);

#ifdef __cplusplus
}
#endif
#endif
