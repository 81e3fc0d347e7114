/* `exo-validate --stress-test --model DIR --duration N`: the engine under
 * load for N seconds, every pass checked against the reference outputs of
 * the model (the whole `model --reference` comparison, repeated), with
 * optional memory pressure.  Reports errors, throughput over time and peak
 * memory. */
#include "util/opt.h"
#include "validate/reference.h"
#include "cmd/validate/subcommand.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

struct stress {
	int worst;
	char first_failure[1024];
	size_t checks;
};

static double now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Collects a pass's checks instead of printing them. */
static void collect(void *arg, json_t *check)
{
	struct stress *s = arg;
	const char *level = json_string_value(json_object_get(check, "level"));
	int rank = !strcmp(level, "fail") ? CHECK_FAIL : !strcmp(level, "warn") ? CHECK_WARN : CHECK_OK;
	if (rank == CHECK_FAIL && !s->first_failure[0])
		snprintf(s->first_failure, sizeof s->first_failure, "%s",
			 json_string_value(json_object_get(check, "message")));
	if (rank > s->worst)
		s->worst = rank;
	s->checks++;
	json_decref(check);
}

/* Half of the available memory (at most 8 GiB), written to so that it is
 * really taken: the engine then runs with the page cache squeezed. */
static void *apply_pressure(size_t *bytes)
{
	long pages = sysconf(_SC_AVPHYS_PAGES), page = sysconf(_SC_PAGESIZE);
	size_t want = (size_t)pages * (size_t)page / 2;
	if (want > (8ull << 30))
		want = 8ull << 30;
	void *p = mmap(NULL, want, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		*bytes = 0;
		return NULL;
	}
	for (size_t off = 0; off < want; off += (size_t)page)
		((volatile char *)p)[off] = 1;
	*bytes = want;
	return p;
}

struct stress_opts {
	const char *model, *reference;
	double duration;
	int threads, pressure;
	enum rec_format format;
};

static const char usage_text[] =
	"usage: exo-validate --stress-test --model DIR [--reference REFDIR] [--duration SECONDS]\n"
	"                    [--memory-pressure] [--threads N] [-o FORMAT] [-q]\n";

static void parse(int argc, char **argv, struct stress_opts *o)
{
	static const struct option longopts[] = {
		{"stress-test", no_argument, NULL, 'S'}, {"model", required_argument, NULL, 'm'},
		{"reference", required_argument, NULL, 'r'}, {"duration", required_argument, NULL, 'd'},
		{"memory-pressure", no_argument, NULL, 'p'}, {"threads", required_argument, NULL, 't'},
		{"output", required_argument, NULL, 'o'}, {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
	int c;
	char *end;
	long v;
	while ((c = getopt_long(argc, argv, "o:qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'S': case 'q': break;
		case 'm': o->model = optarg; break;
		case 'r': o->reference = optarg; break;
		case 'd':
			o->duration = strtod(optarg, &end);
			if (*end || !(o->duration > 0 && o->duration <= 86400))
				exo_errx(EXO_USAGE, "--duration %s: expected seconds, more than 0", optarg);
			break;
		case 'p': o->pressure = 1; break;
		case 't':
			if (!opt_long(optarg, 1, 4096, &v))
				exo_errx(EXO_USAGE, "--threads %s: expected an integer of at least 1", optarg);
			o->threads = (int)v;
			break;
		case 'o': o->format = rec_format_option(optarg); break;
		case 'h': fputs(usage_text, stdout); exit(0);
		default: fputs(usage_text, stderr); exit(EXO_USAGE);
		}
	}
	if (optind != argc || !o->model) {
		fputs(usage_text, stderr);
		exit(EXO_USAGE);
	}
}

int validate_stress(int argc, char **argv)
{
	struct stress_opts o = {.duration = 10, .format = REC_AUTO};
	parse(argc, argv, &o);
	char ref[4200];
	snprintf(ref, sizeof ref, "%s/reference", o.model);
	if (!o.reference)
		o.reference = ref;
	struct stat st;
	if (stat(o.reference, &st) < 0 || !S_ISDIR(st.st_mode))
		exo_errx(EXO_NOINPUT, "%s: no reference directory (give --reference REFDIR)", o.reference);
	size_t pressure = 0;
	void *ballast = o.pressure ? apply_pressure(&pressure) : NULL;
	struct refcheck_opts ro = {.model = o.model, .ref_dir = o.reference, .stages = 1, .dtype = -1,
				   .handover = 0, .threads = o.threads};
	struct stress s = {0};
	json_t *series = json_array();   /* passes completed in each second */
	double t0 = now(), second = t0;
	size_t passes = 0, in_second = 0, failed_passes = 0;
	struct exo_err e = {0};
	while (now() - t0 < o.duration) {
		int before = s.worst;
		s.worst = CHECK_OK;
		if (refcheck_run(&ro, collect, &s, &e) < 0)
			exo_die(&e);
		failed_passes += s.worst == CHECK_FAIL;
		if (before > s.worst)
			s.worst = before;
		passes++;
		in_second++;
		for (; now() - second >= 1; second += 1) {
			json_array_append_new(series, json_integer((json_int_t)in_second));
			in_second = 0;
		}
	}
	double elapsed = now() - t0;
	if (ballast)
		munmap(ballast, pressure);
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	char msg[1600];
	snprintf(msg, sizeof msg, "%zu pass(es) in %.1f s (%.2f/s), %zu check(s), %zu failed pass(es)%s%s; "
		 "peak RSS %.1f MiB%s", passes, elapsed, passes / elapsed, s.checks, failed_passes,
		 failed_passes ? ": first failure: " : "", s.first_failure, ru.ru_maxrss / 1024.0,
		 pressure ? ", under memory pressure" : "");
	struct vcheck_out out;
	vcheck_open(&out, o.format);
	json_t *c = vcheck_new(o.model, "stress.engine", failed_passes ? "fail" : s.worst == CHECK_WARN ? "warn" : "ok", msg);
	json_object_set_new(c, "passes", json_integer((json_int_t)passes));
	json_object_set_new(c, "failed_passes", json_integer((json_int_t)failed_passes));
	json_object_set_new(c, "seconds", json_real(elapsed));
	json_object_set_new(c, "passes_per_second", series);
	json_object_set_new(c, "peak_rss", json_integer((json_int_t)ru.ru_maxrss * 1024));
	json_object_set_new(c, "pressure_bytes", json_integer((json_int_t)pressure));
	vcheck_emit(&out, c);
	return vcheck_close(&out, vcheck_status(&out));
}
