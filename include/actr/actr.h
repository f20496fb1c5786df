/*
 * actr: a C implementation of the Actor-RTC runtime. The one header an
 * application includes; it pulls in every public header:
 *
 *   error.h log.h buf.h util.h   basics
 *   reactor.h                    the event loop (epoll, timers, signals)
 *   proto.h                      ActrId/ActrType forms, envelope helpers
 *   runtime.h                    systems, nodes, workloads, refs, contexts
 *   node.h                       the peer gate: remote actors over WebRTC
 *   signal.h                     the signaling client
 *   net.h                        HTTP/1.1 and WebSocket client and server
 *   mailbox.h kv.h               durable mailbox, per-actor key-value store
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
#include <actr/node.h>
#include <actr/signal.h>
#include <actr/net.h>
#include <actr/mailbox.h>
#include <actr/kv.h>

#define ACTR_VERSION_MAJOR 0
#define ACTR_VERSION_MINOR 1
#define ACTR_VERSION_PATCH 0
#define ACTR_VERSION "0.1.0"

#endif
