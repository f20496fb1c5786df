/*
 * actr: a C implementation of the Actor-RTC runtime. The header an
 * application includes to write and run actors:
 *
 *   error.h log.h buf.h util.h   basics
 *   reactor.h                    the event loop (epoll, timers, POSIX
 *                                signals, hooks)
 *   proto.h                      ActrId/ActrType forms, envelope helpers
 *   runtime.h                    systems, nodes, workloads, refs, contexts
 *   peer.h                       the peer gate: remote actors over WebRTC
 *   mailbox.h kv.h               durable mailbox, per-actor key-value store
 *
 * Two lower-level headers are not included, for programs that need them
 * directly: <actr/sigclient.h> (the signaling client the peer gate uses)
 * and <actr/net.h> (HTTP/1.1 and WebSocket client and server).
 */
#ifndef ACTR_ACTR_H
#define ACTR_ACTR_H

#include <actr/error.h>
#include <actr/log.h>
#include <actr/buf.h>
#include <actr/util.h>
#include <actr/reactor.h>
#include <actr/proto.h>
#include <actr/runtime.h>
#include <actr/peer.h>
#include <actr/mailbox.h>
#include <actr/kv.h>
#include <actr/config.h>
#include <actr/stream.h>
#include <actr/media.h>
#include <actr/metrics.h>

#define ACTR_VERSION_MAJOR 0
#define ACTR_VERSION_MINOR 1
#define ACTR_VERSION_PATCH 0
#define ACTR_VERSION "0.1.0"

#endif
