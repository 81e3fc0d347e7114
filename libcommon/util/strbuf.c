/* Growable memory (strbuf.h). */
#include "util/strbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "util/err.h"

size_t grow_cap(size_t cap, size_t need, size_t first)
{
	if (need <= cap)
		return cap;
	size_t c = cap ? cap : first;
	while (c < need)
		c *= 2;
	return c;
}

void *grow_array(void *p, size_t *cap, size_t need, size_t size, size_t first)
{
	if (need <= *cap)
		return p;
	*cap = grow_cap(*cap, need, first);
	return xrealloc(p, size_mul(*cap, size));
}

void strbuf_add(struct strbuf *b, const void *s, size_t n)
{
	b->s = grow_array(b->s, &b->cap, b->len + n + 1, 1, 64);
	if (n)
		memcpy(b->s + b->len, s, n);
	b->len += n;
	b->s[b->len] = '\0';
}

void strbuf_addch(struct strbuf *b, int ch)
{
	char c = (char)ch;
	strbuf_add(b, &c, 1);
}

void strbuf_addstr(struct strbuf *b, const char *s)
{
	strbuf_add(b, s, strlen(s));
}

void strbuf_addf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	b->s = grow_array(b->s, &b->cap, b->len + (size_t)n + 1, 1, 64);
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void strbuf_release(struct strbuf *b)
{
	free(b->s);
	memset(b, 0, sizeof *b);
}
