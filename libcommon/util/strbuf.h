/* Growable memory: the byte string every module appends to, and the
 * doubling growth of arrays.  Both die on out of memory (xrealloc). */
#ifndef EXO_UTIL_STRBUF_H
#define EXO_UTIL_STRBUF_H
#include <stddef.h>

/* A byte string; { 0 } is empty.  Once anything was added (even nothing),
 * s is NUL-terminated at len; before that s is NULL. */
struct strbuf {
	char *s;
	size_t len, cap;
};

void strbuf_add(struct strbuf *b, const void *s, size_t n);
void strbuf_addch(struct strbuf *b, int ch);
void strbuf_addstr(struct strbuf *b, const char *s);
void strbuf_addf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Frees the bytes and leaves b empty ({ 0 }). */
void strbuf_release(struct strbuf *b);

/* The capacity an array of cap elements needs to hold need: cap itself when
 * it is enough, else cap (or first, for an empty array) doubled until it is. */
size_t grow_cap(size_t cap, size_t need, size_t first);
/* p, an array of *cap elements of size bytes, grown by grow_cap to hold
 * need; *cap updated. */
void *grow_array(void *p, size_t *cap, size_t need, size_t size, size_t first);
#endif
