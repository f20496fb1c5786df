/*
 * ACTR_API marks what libactr exports. The library is built with
 * -fvisibility=hidden and a version script (scripts/libactr.map), so a
 * function without ACTR_API in include/actr/ is not part of the ABI;
 * `make check` compares the exported symbols with these declarations and
 * with the recorded baseline (scripts/libactr.symbols).
 */
#ifndef ACTR_API_H
#define ACTR_API_H

#if defined(__GNUC__) || defined(__clang__)
#define ACTR_API __attribute__((visibility("default")))
#else
#define ACTR_API
#endif

#endif
