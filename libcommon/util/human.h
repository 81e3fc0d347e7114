/* Sizes for people: 1536 as "1.5 KiB". */
#ifndef EXO_UTIL_HUMAN_H
#define EXO_UTIL_HUMAN_H
#include <stddef.h>

/* bytes (not negative) in buf: "%.0f B" below 1 KiB, else "%.1f" in the
 * largest binary unit (KiB to EiB) that keeps the number at least 1. */
void human_bytes(char *buf, size_t cap, double bytes);
#endif
