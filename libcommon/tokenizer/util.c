/* The tokenizer's small tools: byte buffers, UTF-8, the string and pair hash
 * tables behind vocabulary and merge lookups, GPT-2's byte alphabet. */
#include "tokenizer/tok_int.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

size_t tok_utf8_len(unsigned char c)
{
	return c < 0xC0 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF8 ? 4 : 1;
}

size_t tok_utf8_get(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t l = tok_utf8_len(u[0]);
	if (l > n || u[0] < 0xC0)
		l = 1;
	uint32_t c = l == 1 ? u[0] : l == 2 ? u[0] & 0x1F : l == 3 ? u[0] & 0x0F : u[0] & 0x07;
	for (size_t i = 1; i < l; i++)
		c = (c << 6) | (u[i] & 0x3F);
	*cp = c;
	return l;
}

size_t tok_utf8_put(char *out, uint32_t cp)
{
	unsigned char *o = (unsigned char *)out;
	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = 0xC0 | (cp >> 6);
		o[1] = 0x80 | (cp & 0x3F);
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = 0xE0 | (cp >> 12);
		o[1] = 0x80 | ((cp >> 6) & 0x3F);
		o[2] = 0x80 | (cp & 0x3F);
		return 3;
	}
	o[0] = 0xF0 | (cp >> 18);
	o[1] = 0x80 | ((cp >> 12) & 0x3F);
	o[2] = 0x80 | ((cp >> 6) & 0x3F);
	o[3] = 0x80 | (cp & 0x3F);
	return 4;
}

/* Length of the valid character at s (1..4), or 0 when invalid; *part gets
 * the length of the maximal invalid subpart otherwise (Unicode 3.9 / WHATWG). */
static size_t utf8_char(const unsigned char *s, size_t n, size_t *part)
{
	unsigned char c = s[0];
	*part = 1;
	if (c < 0x80)
		return 1;
	size_t need;
	unsigned char lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF)
		need = 1;
	else if (c >= 0xE0 && c <= 0xEF) {
		need = 2;
		if (c == 0xE0) lo = 0xA0;
		if (c == 0xED) hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 3;
		if (c == 0xF0) lo = 0x90;
		if (c == 0xF4) hi = 0x8F;
	} else
		return 0;
	for (size_t i = 1; i <= need; i++) {
		if (i >= n || s[i] < lo || s[i] > hi) {
			*part = i;
			return 0;
		}
		lo = 0x80, hi = 0xBF;
	}
	return need + 1;
}

size_t tok_utf8_valid(const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, part;
	while (i < n) {
		if (u[i] < 0x80) {
			i++;
			continue;
		}
		size_t l = utf8_char(u + i, n - i, &part);
		if (!l)
			break;
		i += l;
	}
	return i;
}

void tok_utf8_lossy(struct strbuf *out, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, part;
	while (i < n) {
		size_t v = tok_utf8_valid(s + i, n - i);
		strbuf_add(out, s + i, v);
		i += v;
		if (i >= n)
			break;
		utf8_char(u + i, n - i, &part);
		strbuf_add(out, "\xEF\xBF\xBD", 3);
		i += part;
	}
}

bool tok_is_space(uint32_t c)
{
	return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 ||
	       (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F ||
	       c == 0x205F || c == 0x3000;
}

bool tok_is_alnum(uint32_t c)
{
	if (c < 0x80)
		return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
	utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
	return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO ? true
	       : k >= UTF8PROC_CATEGORY_ND && k <= UTF8PROC_CATEGORY_NO;
}

/* FNV-1a is enough here: keys are short and the table is sized at twice the count. */
static uint32_t hash_bytes(const char *k, size_t n)
{
	uint32_t h = 2166136261u;
	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)k[i]) * 16777619u;
	return h ^ (h >> 15);
}

static void tok_strmap_grow(struct strmap *m)
{
	size_t size = (m->mask + 1) * 2;
	uint32_t *slots = xcalloc(size, sizeof *slots);
	for (size_t i = 0; i < m->n; i++) {
		size_t j = m->ents[i].hash & (size - 1);
		while (slots[j])
			j = (j + 1) & (size - 1);
		slots[j] = (uint32_t)i + 1;
	}
	free(m->slots);
	m->slots = slots;
	m->mask = size - 1;
}

void tok_strmap_init(struct strmap *m, size_t expect)
{
	memset(m, 0, sizeof *m);
	size_t size = 16;
	while (size < expect * 2)
		size *= 2;
	m->slots = xcalloc(size, sizeof *m->slots);
	m->mask = size - 1;
}

void tok_strmap_put(struct strmap *m, const char *k, size_t n, int32_t id)
{
	uint32_t h = hash_bytes(k, n);
	size_t j = h & m->mask;
	for (; m->slots[j]; j = (j + 1) & m->mask) {
		__typeof__(m->ents[0]) *en = &m->ents[m->slots[j] - 1];
		if (en->hash == h && en->len == n && !memcmp(m->keys.s + en->off, k, n)) {
			en->id = id;
			return;
		}
	}
	m->ents = grow_array(m->ents, &m->cap, m->n + 1, sizeof *m->ents, 64);
	m->ents[m->n].off = (uint32_t)m->keys.len;
	m->ents[m->n].len = (uint32_t)n;
	m->ents[m->n].id = id;
	m->ents[m->n].hash = h;
	strbuf_add(&m->keys, k, n);
	m->slots[j] = (uint32_t)++m->n;
	if (m->n * 2 > m->mask + 1)
		tok_strmap_grow(m);
}

int32_t tok_strmap_get(const struct strmap *m, const char *k, size_t n)
{
	uint32_t h = hash_bytes(k, n);
	for (size_t j = h & m->mask; m->slots[j]; j = (j + 1) & m->mask) {
		const __typeof__(m->ents[0]) *en = &m->ents[m->slots[j] - 1];
		if (en->hash == h && en->len == n && !memcmp(m->keys.s + en->off, k, n))
			return en->id;
	}
	return -1;
}

void tok_strmap_free(struct strmap *m)
{
	free(m->slots);
	free(m->ents);
	strbuf_release(&m->keys);
	memset(m, 0, sizeof *m);
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x;
}

void tok_pairmap_init(struct pairmap *m, size_t expect)
{
	size_t size = 16;
	while (size < expect * 2)
		size *= 2;
	m->slots = xmalloc(size * sizeof *m->slots);
	for (size_t i = 0; i < size; i++)
		m->slots[i].key = UINT64_MAX;
	m->mask = size - 1;
	m->n = 0;
}

static void tok_pairmap_grow(struct pairmap *m)
{
	struct pairmap big;
	tok_pairmap_init(&big, m->mask + 1);
	for (size_t i = 0; i <= m->mask; i++)
		if (m->slots[i].key != UINT64_MAX) {
			size_t j = mix64(m->slots[i].key) & big.mask;
			while (big.slots[j].key != UINT64_MAX)
				j = (j + 1) & big.mask;
			big.slots[j] = m->slots[i];
		}
	big.n = m->n;
	free(m->slots);
	*m = big;
}

void tok_pairmap_put(struct pairmap *m, int32_t a, int32_t b, int32_t rank, int32_t id)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	size_t j = mix64(key) & m->mask;
	while (m->slots[j].key != UINT64_MAX && m->slots[j].key != key)
		j = (j + 1) & m->mask;
	if (m->slots[j].key == UINT64_MAX)
		m->n++;
	m->slots[j] = (struct pair_ent){key, rank, id};
	if (m->n * 2 > m->mask + 1)
		tok_pairmap_grow(m);
}

const struct pair_ent *tok_pairmap_get(const struct pairmap *m, int32_t a, int32_t b)
{
	uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
	for (size_t j = mix64(key) & m->mask; m->slots[j].key != UINT64_MAX; j = (j + 1) & m->mask)
		if (m->slots[j].key == key)
			return &m->slots[j];
	return NULL;
}

void tok_pairmap_free(struct pairmap *m)
{
	free(m->slots);
	memset(m, 0, sizeof *m);
}

/* GPT-2's bytes_to_unicode maps printable Latin-1 bytes to themselves and
 * the others, in byte order, to U+0100 and up; this is its inverse. */
int tok_bytelevel_byte(uint32_t cp)
{
	if (cp >= 256 + 68)
		return -1;
	if (cp < 256) {
		bool keep = (cp >= '!' && cp <= '~') || (cp >= 0xA1 && cp <= 0xAC) || cp >= 0xAE;
		return keep ? (int)cp : -1;
	}
	/* The shifted bytes, in order: 0..0x20, 0x7F..0xA0, 0xAD. */
	uint32_t k = cp - 256;
	if (k <= 0x20)
		return (int)k;
	if (k <= 0x20 + 34)
		return (int)(0x7F + k - 0x21);
	return k == 67 ? 0xAD : -1;
}

bool tok_bytelevel_unmap(const char *s, size_t n, struct strbuf *out)
{
	size_t start = out->len;
	for (size_t i = 0; i < n;) {
		uint32_t cp;
		i += tok_utf8_get(s + i, n - i, &cp);
		int b = tok_bytelevel_byte(cp);
		if (b < 0) {
			out->len = start;
			if (out->s)
				out->s[start] = '\0';
			return false;
		}
		strbuf_addch(out, b);
	}
	return true;
}
