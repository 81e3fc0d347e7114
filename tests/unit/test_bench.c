/* The bench library's pure parts: statistics, suite lists, what --merge
 * attaches to a node, CSV quoting, and a short run through the callbacks. */
#include "../tap.h"
#include "bench/bench.h"
#include "bench/internal.h"
#include "bench/output.h"
#include "records/record.h"

#include <stdlib.h>
#include <unistd.h>

static void test_stats(void)
{
	struct bench_stats s;
	double odd[] = { 5, 1, 3 }, even[] = { 4, 1, 3, 2 };
	bench_stats_of(odd, 3, &s);
	ok(s.n == 3 && s.min == 1 && s.median == 3 && s.max == 5, "stats of 3 samples");
	bench_stats_of(even, 4, &s);
	ok(s.n == 4 && s.min == 1 && s.median == 2.5 && s.max == 4, "median of 4 is the mean of the middle two");
	bench_stats_of(odd, 0, &s);
	is_int(s.n, 0, "no samples: no stats");
}

static void test_suites(void)
{
	unsigned m;
	struct exo_err e;
	ok(bench_suite_parse("memory,storage", &m, &e) == 0 &&
	   m == ((1u << BENCH_MEMORY) | (1u << BENCH_STORAGE)), "memory,storage");
	ok(bench_suite_parse("all", &m, &e) == 0 && m == BENCH_ALL, "all");
	ok(bench_suite_parse("memory,disk", &m, &e) < 0 && e.code == EXO_USAGE &&
	   strstr(e.msg, "'disk'"), "an unknown suite is named: %s", e.msg);
	ok(bench_suite_parse(",", &m, &e) < 0, "an empty list is refused");
}

static json_t *fig(const char *suite, const char *name, double v, int threads)
{
	json_t *r = rec_new("bench");
	json_object_set_new(r, "suite", json_string(suite));
	json_object_set_new(r, "name", json_string(name));
	json_object_set_new(r, "value", json_real(v));
	json_object_set_new(r, "threads", json_integer(threads));
	return r;
}

static void test_merge(void)
{
	json_t *recs = json_array(), *node = rec_new("node");
	json_object_set_new(node, "name", json_string("n1"));
	json_array_append_new(recs, fig("memory", "read_bytes_per_s", 9e9, 1));
	json_array_append_new(recs, fig("memory", "read_bytes_per_s", 7e9, 2));
	json_array_append_new(recs, fig("compute", "sgemm_flop_per_s", 5e10, 2));
	json_array_append_new(recs, fig("inference", "tg128_tokens_per_s", 30, 2));
	bench_merge_node(node, recs);
	ok(json_real_value(json_object_get(node, "mem_bandwidth")) == 9e9,
	   "mem_bandwidth is the best read rate over thread counts");
	ok(json_real_value(json_object_get(node, "flops")) == 5e10, "flops is the sgemm rate");
	json_t *b = json_object_get(node, "bench");
	ok(json_object_get(b, "read_bytes_per_s_t1") && json_object_get(b, "read_bytes_per_s_t2") &&
	   json_object_get(b, "tg128_tokens_per_s"), "bench map keys carry the thread count where it varies");
	struct exo_err e;
	ok(rec_validate(node, "test", 0, &e) < 0, "the schema still requires arch of a merged node");
	json_object_set_new(node, "arch", json_string("x86_64"));
	json_object_set_new(node, "mem_total", json_integer(1));
	ok(rec_validate(node, "test", 0, &e) == 0, "the merged node validates: %s", e.msg);
	json_decref(recs);
	json_decref(node);
}

static void test_csv(void)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	json_t *r = fig("storage", "read_cached_bytes_per_s", 1.5, 1);
	json_object_set_new(r, "file", json_string("/tmp/a,\"b\""));
	bench_csv_row(f, r);
	fclose(f);
	ok(strstr(buf, "storage,read_cached_bytes_per_s,1.5,") == buf, "csv row starts with suite, name, value: %s", buf);
	ok(strstr(buf, ",\"/tmp/a,\"\"b\"\"\",") != NULL, "a field with a comma and quotes is quoted");
	free(buf);
	json_decref(r);
}

static int collect(void *arg, json_t *rec, struct exo_err *e)
{
	json_array_append_new(arg, rec);
	return 0;
}

static void test_run(void)
{
	char path[] = "/tmp/test_bench.XXXXXX";
	int fd = mkstemp(path);
	static char block[1 << 20];
	memset(block, 7, sizeof block);
	for (int i = 0; i < 4; i++)
		if (write(fd, block, sizeof block) != (ssize_t)sizeof block)
			break;
	close(fd);
	json_t *recs = json_array();
	struct bench_opts o = { .duration = 0.5, .suites = 1u << BENCH_STORAGE, .file = path,
				.node = "n1", .emit = collect, .arg = recs, .dtype = -1 };
	struct exo_err e;
	double t0 = bench_now();
	int rc = bench_run(&o, &e);
	double took = bench_now() - t0;
	is_int(rc, 0, "storage run on a 4 MiB file");
	is_int(json_array_size(recs), 2, "two figures: uncached and cached");
	ok(took < 1.5, "a 0.5 s run ends within a second of it (%.2f s)", took);
	json_t *r = json_array_get(recs, 0);
	ok(r && rec_validate(r, "run", 0, &e) == 0 && json_integer_value(json_object_get(r, "bytes")) == 4 << 20,
	   "records validate, a sample is the whole file");
	unlink(path);
	json_decref(recs);
	o.file = "/nonexistent/file";
	recs = json_array();
	o.arg = recs;
	is_int(bench_run(&o, &e), 1, "a storage suite with nothing to read reports a failure");
	json_decref(recs);
}

int main(void)
{
	test_stats();
	test_suites();
	test_merge();
	test_csv();
	test_run();
	ok(bench_llc_bytes() > 0 || access("/sys/devices/system/cpu/cpu0/cache", F_OK) != 0,
	   "last-level cache size read from sysfs (%zu bytes)", bench_llc_bytes());
	return done_testing();
}
