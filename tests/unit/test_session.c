/* The session table: lookups, LRU eviction at the limit, drops and takes,
 * every value freed exactly once. */
#include "serve/serve.h"
#include "tests/tap.h"

static int freed[16];

static void free_value(void *p)
{
	freed[*(int *)p]++;
}

int main(void)
{
	int v[16];
	for (int i = 0; i < 16; i++)
		v[i] = i;
	struct sess_table *t = sess_table_new(3, free_value);
	uint64_t ev = 99;
	ok(t != NULL, "a table of 3");
	ok(sess_put(t, 1, &v[1], &ev) == 0 && ev == 0, "session 1 added, nothing evicted");
	ok(sess_put(t, 2, &v[2], &ev) == 0 && sess_put(t, 3, &v[3], &ev) == 0 && ev == 0, "2 and 3 added");
	ok(sess_put(t, 2, &v[2], &ev) < 0, "adding a present id is refused");
	is_int(sess_count(t), 3, "three sessions");
	ok(sess_get(t, 1) == &v[1], "1 found (and now the most recently used)");
	ok(sess_get(t, 42) == NULL, "an unknown id is absent");
	ok(sess_put(t, 4, &v[4], &ev) == 0, "a fourth session added");
	is_int(ev, 2, "the least recently used (2) was evicted");
	is_int(freed[2], 1, "its value was freed");
	ok(sess_get(t, 2) == NULL, "2 is gone");
	sess_get(t, 3);
	ok(sess_put(t, 5, &v[5], &ev) == 0 && ev == 1, "then 1, used before 3 and 4, goes");
	ok(sess_drop(t, 3) && freed[3] == 1 && !sess_drop(t, 3), "drop frees once");
	ok(sess_take(t, 4) == &v[4] && freed[4] == 0 && sess_get(t, 4) == NULL, "take removes without freeing");
	is_int(sess_count(t), 1, "one session left");
	sess_table_free(t);
	is_int(freed[5], 1, "freeing the table frees what it holds");
	int total = 0;
	for (int i = 0; i < 16; i++)
		total += freed[i];
	is_int(total, 4, "every value freed at most once (1, 2, 3, 5)");

	struct sess_table *one = sess_table_new(1, NULL);
	ok(sess_put(one, 7, &v[7], &ev) == 0 && sess_put(one, 8, &v[8], &ev) == 0 && ev == 7,
	   "with room for one, each new session evicts the last");
	sess_table_free(one);
	ok(serve_sample_seed(5, 10) == serve_sample_seed(5, 10) && serve_sample_seed(5, 10) != serve_sample_seed(5, 11) &&
	   serve_sample_seed(5, 10) != serve_sample_seed(6, 10), "the draw seed depends on seed and position only");
	return done_testing();
}
