/*
 * actr: a C implementation of the Actor-RTC runtime. The one header an
 * application includes.
 */
#ifndef ACTR_ACTR_H
#define ACTR_ACTR_H

#include <actr/error.h>
#include <actr/log.h>
#include <actr/buf.h>
#include <actr/util.h>
#include <actr/reactor.h>

#define ACTR_VERSION_MAJOR 0
#define ACTR_VERSION_MINOR 1
#define ACTR_VERSION_PATCH 0
#define ACTR_VERSION "0.1.0"

#endif
