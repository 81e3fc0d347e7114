/* The session table: a small array searched linearly (tens of sessions,
 * each holding a KV cache of megabytes: the search costs nothing beside it),
 * with a use counter for LRU eviction. */
#include "serve/serve.h"

#include <stdlib.h>

struct entry {
	uint64_t id, used;
	void *value;
};

struct sess_table {
	struct entry *e;
	size_t n, max;
	uint64_t clock;
	void (*free_value)(void *);
};

struct sess_table *sess_table_new(size_t max, void (*free_value)(void *))
{
	struct sess_table *t = calloc(1, sizeof *t);
	if (!t || !(t->e = calloc(max ? max : 1, sizeof *t->e))) {
		free(t);
		return NULL;
	}
	t->max = max ? max : 1;
	t->free_value = free_value;
	return t;
}

void sess_table_free(struct sess_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->n; i++)
		if (t->free_value)
			t->free_value(t->e[i].value);
	free(t->e);
	free(t);
}

static struct entry *find(struct sess_table *t, uint64_t id)
{
	for (size_t i = 0; i < t->n; i++)
		if (t->e[i].id == id)
			return &t->e[i];
	return NULL;
}

void *sess_get(struct sess_table *t, uint64_t id)
{
	struct entry *en = find(t, id);
	if (!en)
		return NULL;
	en->used = ++t->clock;
	return en->value;
}

static void remove_at(struct sess_table *t, size_t i)
{
	if (t->free_value)
		t->free_value(t->e[i].value);
	t->e[i] = t->e[--t->n];
}

int sess_put(struct sess_table *t, uint64_t id, void *value, uint64_t *evicted)
{
	if (evicted)
		*evicted = 0;
	if (find(t, id))
		return -1;
	if (t->n == t->max) {
		size_t lru = 0;
		for (size_t i = 1; i < t->n; i++)
			if (t->e[i].used < t->e[lru].used)
				lru = i;
		if (evicted)
			*evicted = t->e[lru].id;
		remove_at(t, lru);
	}
	t->e[t->n++] = (struct entry){.id = id, .used = ++t->clock, .value = value};
	return 0;
}

bool sess_drop(struct sess_table *t, uint64_t id)
{
	struct entry *en = find(t, id);
	if (!en)
		return false;
	remove_at(t, (size_t)(en - t->e));
	return true;
}

void *sess_take(struct sess_table *t, uint64_t id)
{
	struct entry *en = find(t, id);
	if (!en)
		return NULL;
	void *v = en->value;
	*en = t->e[--t->n];
	return v;
}

void *sess_take_best(struct sess_table *t, size_t (*score)(const void *value, void *arg),
		     void *arg, uint64_t *id)
{
	size_t best = 0, best_score = 0;
	for (size_t i = 0; i < t->n; i++) {
		size_t sc = score(t->e[i].value, arg);
		if (sc > best_score)
			best = i, best_score = sc;
	}
	if (!best_score)
		return NULL;
	*id = t->e[best].id;
	return sess_take(t, *id);
}

size_t sess_count(const struct sess_table *t)
{
	return t->n;
}
