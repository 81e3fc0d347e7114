/* exo-fetch: download a model from a Hugging Face compatible hub into the
 * Hugging Face cache (resumable, verified, locked, only the shards a layer
 * range needs), print its `model` record; list and evict the cache.
 * See exo-fetch(1). */
#include "config/config.h"
#include "hub/hub.h"
#include "planner/planner.h"
#include "records/record.h"
#include "util/file.h"
#include "util/human.h"
#include "util/opt.h"

#include <ctype.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: exo-fetch [--revision REV] [--layers A:B | --plan FILE --stage N]\n"
	"                 [--include GLOB] [--exclude GLOB] [--local-dir DIR] [--cache DIR]\n"
	"                 [--jobs N] [--limit-rate RATE] [--min-rate RATE] [--retries N]\n"
	"                 [--no-wait] [--dry-run]\n"
	"                 [-c FILE] [-o msgpack|json|yaml|text] [-q] [ORG/NAME]\n"
	"       exo-fetch --list [--cache DIR]\n"
	"       exo-fetch --gc [--max-size SIZE] [--dry-run] [--cache DIR]\n"
	"       exo-fetch --help | --version\n";

enum { MAX_GLOBS = 64 };

struct options {
	struct hub_opts hub;
	const char *repo, *plan, *config, *cache;
	int stage;
	bool list, gc, quiet, layers_set;
	int64_t max_size;             /* -1: from the configuration */
	enum rec_format format;
	char endpoint[2048], token[4096], plan_repo[256], plan_rev[256];
	const char *include[MAX_GLOBS + 1], *exclude[MAX_GLOBS + 1];
	size_t n_include, n_exclude;
};

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	if (!status)
		fputs("\nDownloads a model repository into the Hugging Face cache and prints its\n"
		      "model record.\n"
		      "\n"
		      "  -r, --revision REV   branch, tag or commit (default: main)\n"
		      "  --layers A:B         only the weight files holding layers A to B-1\n"
		      "  --plan FILE          a plan record; with --stage N, that stage's layers\n"
		      "  --stage N            the stage of --plan\n"
		      "  --include GLOB       only files matching (repeatable)\n"
		      "  --exclude GLOB       not files matching (repeatable)\n"
		      "  --local-dir DIR      plain files in DIR instead of the cache layout\n"
		      "  --cache DIR          the hub cache (default: storage.modelCache.path of exo.yaml,\n"
		      "                       else $HF_HUB_CACHE, $HF_HOME/hub)\n"
		      "  -j, --jobs N         files downloaded at once (default 4)\n"
		      "  --limit-rate RATE    bytes/s over all downloads (K, M, G suffixes)\n"
		      "  --min-rate RATE      slowest average bytes/s a file may take beyond\n"
		      "                       6 x HF_HUB_DOWNLOAD_TIMEOUT (default 32K; 0: no deadline)\n"
		      "  --retries N          retries on timeouts, resets and 5xx (default 5)\n"
		      "  --no-wait            exit 75 at once when another run holds a lock\n"
		      "  -n, --dry-run        say what would be fetched or evicted, change nothing\n"
		      "  --list               list cached revisions with sizes\n"
		      "  --gc                 evict least recently used revisions\n"
		      "  --max-size SIZE      cache size --gc keeps to (default: storage.modelCache.maxSize)\n"
		      "  -c, --config FILE    exo.yaml to read\n"
		      "  -o, --output FORMAT  msgpack, json, yaml or text\n"
		      "  -q, --quiet          no progress bar\n"
		      "  --help, --version\n"
		      "\nSee exo-fetch(1).\n", stdout);
	exit(status);
}

static int64_t size_arg(const char *flag, const char *s)
{
	uint64_t v;
	if (conf_parse_size(s, &v) < 0 || v > INT64_MAX)
		exo_errx(EXO_USAGE, "%s: not a size: %s", flag, s);
	return (int64_t)v;
}

static void add_glob(const char **v, size_t *n, const char *g)
{
	if (*n >= MAX_GLOBS)
		exo_errx(EXO_USAGE, "too many --include/--exclude globs (at most %d)", MAX_GLOBS);
	v[(*n)++] = g;
}

static void parse_options(int argc, char **argv, struct options *o)
{
	enum { O_LAYERS = 256, O_PLAN, O_STAGE, O_INCLUDE, O_EXCLUDE, O_LOCAL, O_CACHE, O_RATE,
	       O_NOWAIT, O_LIST, O_GC, O_MAXSIZE, O_RETRIES, O_MINRATE };
	static const struct option longopts[] = {
		{"revision", required_argument, NULL, 'r'}, {"layers", required_argument, NULL, O_LAYERS},
		{"plan", required_argument, NULL, O_PLAN}, {"stage", required_argument, NULL, O_STAGE},
		{"include", required_argument, NULL, O_INCLUDE},
		{"exclude", required_argument, NULL, O_EXCLUDE},
		{"local-dir", required_argument, NULL, O_LOCAL}, {"cache", required_argument, NULL, O_CACHE},
		{"jobs", required_argument, NULL, 'j'}, {"limit-rate", required_argument, NULL, O_RATE},
		{"retries", required_argument, NULL, O_RETRIES}, {"min-rate", required_argument, NULL, O_MINRATE}, {"no-wait", no_argument, NULL, O_NOWAIT}, {"dry-run", no_argument, NULL, 'n'},
		{"list", no_argument, NULL, O_LIST}, {"gc", no_argument, NULL, O_GC},
		{"max-size", required_argument, NULL, O_MAXSIZE}, {"config", required_argument, NULL, 'c'},
		{"output", required_argument, NULL, 'o'}, {"quiet", no_argument, NULL, 'q'},
		{"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}};
	int c;
	long v;
	while ((c = getopt_long(argc, argv, "r:j:nc:o:qhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'r': o->hub.revision = optarg; break;
		case O_LAYERS:
			if (!hub_parse_layers(optarg, &o->hub.layer_start, &o->hub.layer_end))
				exo_errx(EXO_USAGE, "--layers: expected A:B with A < B, got %s", optarg);
			o->layers_set = true;
			break;
		case O_PLAN: o->plan = optarg; break;
		case O_STAGE:
			if (!opt_long(optarg, 0, INT_MAX, &v))
				exo_errx(EXO_USAGE, "--stage: not a stage index: %s", optarg);
			o->stage = (int)v;
			break;
		case O_INCLUDE: add_glob(o->include, &o->n_include, optarg); break;
		case O_EXCLUDE: add_glob(o->exclude, &o->n_exclude, optarg); break;
		case O_LOCAL: o->hub.local_dir = optarg; break;
		case O_CACHE: o->cache = optarg; break;
		case 'j':
			if (!opt_long(optarg, 1, 64, &v))
				exo_errx(EXO_USAGE, "--jobs: expected 1 to 64, got %s", optarg);
			o->hub.jobs = (int)v;
			break;
		case O_RATE: o->hub.limit_rate = size_arg("--limit-rate", optarg); break;
		case O_MINRATE: o->hub.min_rate = size_arg("--min-rate", optarg); break;
		case O_RETRIES:
			if (!opt_long(optarg, 0, 100, &v))
				exo_errx(EXO_USAGE, "--retries: expected 0 to 100, got %s", optarg);
			o->hub.retries = (int)v;
			break;
		case O_NOWAIT: o->hub.no_wait = true; break;
		case 'n': o->hub.dry_run = true; break;
		case O_LIST: o->list = true; break;
		case O_GC: o->gc = true; break;
		case O_MAXSIZE: o->max_size = size_arg("--max-size", optarg); break;
		case 'c': o->config = optarg; break;
		case 'o': o->format = rec_format_option(optarg); break;
		case 'q': o->quiet = true; break;
		case 'h': usage(0); break;
		case 'V': printf("exo-fetch %s\n", EXO_VERSION); exit(0);
		default: usage(EXO_USAGE);
		}
	}
	if (optind < argc)
		o->repo = argv[optind++];
	if (optind != argc) {
		exo_warnx("unexpected argument: %s", argv[optind]);
		usage(EXO_USAGE);
	}
	if (o->plan && o->stage < 0)
		exo_errx(EXO_USAGE, "--plan needs --stage N");
	if (o->stage >= 0 && !o->plan)
		exo_errx(EXO_USAGE, "--stage needs --plan FILE");
	if (o->plan && o->layers_set)
		exo_errx(EXO_USAGE, "--layers and --plan: give one");
	if (o->list + o->gc > 1)
		exo_errx(EXO_USAGE, "--list and --gc: give one");
}

/* Layers, model and revision of stage N in the plan record in path. */
static void read_plan(struct options *o)
{
	int fd = strcmp(o->plan, "-") ? open(o->plan, O_RDONLY | O_CLOEXEC) : 0;
	if (fd < 0)
		exo_errx(EXO_NOINPUT, "%s: cannot open", o->plan);
	struct exo_err e;
	struct plan_rec plan;
	int rc = plan_rec_read(fd, o->plan, &plan, &e);
	if (fd)
		close(fd);
	if (rc < 0)
		exo_die(&e);
	bool found = false;
	for (size_t i = 0; i < plan.n_stages; i++) {
		const struct plan_rec_stage *st = &plan.stages[i];
		if (st->index != o->stage)
			continue;
		o->hub.layer_start = (int)st->layer_start;
		o->hub.layer_end = (int)st->layer_end;
		found = true;
	}
	if (!found || o->hub.layer_end <= o->hub.layer_start)
		exo_errx(EXO_DATAERR, "%s: plan has no stage %d with a layer range", o->plan, o->stage);
	if (!o->repo && plan.model) {
		snprintf(o->plan_repo, sizeof o->plan_repo, "%s", plan.model);
		o->repo = o->plan_repo;
	}
	if (o->repo == o->plan_repo && !hub_repo_id_ok(o->repo))
		exo_errx(EXO_DATAERR, "%s: field 'model': '%s' is not a repository id (ORG/NAME)",
			 o->plan, o->repo);
	const char *rev = plan.revision;
	if (rev && !hub_revision_ok(rev))
		exo_errx(EXO_DATAERR, "%s: field 'revision': '%s' is not a branch, tag or commit",
			 o->plan, rev);
	if (rev && !strcmp(o->hub.revision, "main")) {
		snprintf(o->plan_rev, sizeof o->plan_rev, "%s", rev);
		o->hub.revision = o->plan_rev;
	}
	plan_rec_free(&plan);
}

/* HF_TOKEN, HUGGING_FACE_HUB_TOKEN, else the token file (read into buf). */
static const char *find_token(char *buf, size_t cap)
{
	const char *t = getenv("HF_TOKEN");
	if (!t || !*t)
		t = getenv("HUGGING_FACE_HUB_TOKEN");
	if (t && *t)
		return t;
	char path[4096];
	const char *p = getenv("HF_TOKEN_PATH"), *home = getenv("HF_HOME");
	if (!p || !*p) {
		if (home && *home)
			snprintf(path, sizeof path, "%s/token", home);
		else
			snprintf(path, sizeof path, "%s/.cache/huggingface/token", getenv("HOME") ?: "/");
		p = path;
	}
	char *s = file_read_all(p, NULL, NULL);
	if (!s)
		return NULL;
	s[strcspn(s, " \t\r\n")] = '\0';
	snprintf(buf, cap, "%s", s);
	free(s);
	return *buf ? buf : NULL;
}

static bool env_true(const char *name)
{
	const char *v = getenv(name);
	return v && (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
		     !strcasecmp(v, "on"));
}

static void environment(struct options *o)
{
	const char *ep = getenv("HF_ENDPOINT");
	if (ep && *ep) {
		size_t n = (size_t)snprintf(o->endpoint, sizeof o->endpoint, "%s", ep);
		while (n > 0 && o->endpoint[n - 1] == '/')
			o->endpoint[--n] = '\0';
		o->hub.endpoint = o->endpoint;
	}
	o->hub.token = find_token(o->token, sizeof o->token);
	o->hub.offline = env_true("HF_HUB_OFFLINE") || env_true("TRANSFORMERS_OFFLINE");
}

static void human(char *buf, size_t cap, double b)
{
	const char *u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	int i = 0;
	while (b >= 1024 && i < 4) {
		b /= 1024;
		i++;
	}
	snprintf(buf, cap, i ? "%.1f %s" : "%.0f %s", b, u[i]);
}

static int list_cache(const char *cache)
{
	struct hub_rev *revs;
	size_t n;
	struct exo_err e;
	if (hub_scan(cache, &revs, &n, &e) < 0)
		exo_die(&e);
	printf("%-40s %-12s %-14s %10s  %-16s %s\n", "REPOSITORY", "COMMIT", "REFS", "SIZE",
	       "LAST USED", "IN USE");
	for (size_t i = 0; i < n; i++) {
		char size[32], when[32];
		human(size, sizeof size, (double)revs[i].size);
		strftime(when, sizeof when, "%Y-%m-%d %H:%M", localtime(&revs[i].last_used));
		printf("%-40s %-12.12s %-14s %10s  %-16s %s\n", revs[i].repo, revs[i].commit,
		       revs[i].refs[0] ? revs[i].refs : "-", size, when, revs[i].in_use ? "yes" : "no");
	}
	hub_revs_free(revs, n);
	return 0;
}

static void report_evict(const struct hub_rev *r, void *arg)
{
	char size[32];
	human(size, sizeof size, (double)r->size);
	printf("%s %s %s %s\n", *(bool *)arg ? "would evict" : "evicted", r->repo, r->commit, size);
}

static void print_dry_run(const struct hub_model *m)
{
	for (size_t i = 0; i < m->n_files; i++)
		printf("%s %s %" PRId64 "\n", m->files[i].present ? "have " : "fetch", m->files[i].name,
		       m->files[i].size);
}

/* The progress bar on stderr (hub_opts.progress). */
static void draw_progress(void *arg, int64_t got, int64_t total, double rate, bool end)
{
	char a[32], b[32], r[32], eta[32] = "";
	human_bytes(a, sizeof a, (double)got);
	human_bytes(b, sizeof b, (double)total);
	human_bytes(r, sizeof r, rate);
	if (rate > 0 && total > got)
		snprintf(eta, sizeof eta, "  ETA %.0fs", (total - got) / rate);
	int width = 30, fill = total > 0 ? (int)(width * (double)got / total) : 0;
	fill = fill > width ? width : fill;
	fprintf(stderr, "\r[%.*s%*s] %s / %s  %s/s%s\033[K%s", fill,
		"##############################", width - fill, "", a, b, r, eta, end ? "\n" : "");
}

static int write_record(const struct options *o, const struct hub_model *m)
{
	struct exo_err e;
	json_t *rec = hub_model_record(m, &e);
	if (!rec)
		exo_die(&e);
	int rc = rec_write_stdout(rec, rec_format_resolve(o->format, STDOUT_FILENO), &e);
	json_decref(rec);
	if (rc < 0)
		exo_die(&e);
	return 0;
}

int main(int argc, char **argv)
{
	struct options o = {.format = REC_AUTO, .stage = -1, .max_size = -1};
	struct exo_config conf;
	struct exo_err e;
	exo_progname = "exo-fetch";
	hub_opts_init(&o.hub);
	parse_options(argc, argv, &o);
	conf_init(&conf);
	if (conf_load(&conf, o.config, &e) < 0)
		exo_die(&e);
	o.hub.cache = o.cache ? o.cache : conf.storage.model_cache.path;
	if (o.list)
		return list_cache(o.hub.cache);
	if (o.gc) {
		int64_t max = o.max_size >= 0 ? o.max_size : (int64_t)conf.storage.model_cache.max_size;
		if (max <= 0)
			exo_errx(EXO_USAGE, "--gc needs --max-size SIZE (or storage.modelCache.maxSize)");
		switch (conf.storage.model_cache.cleanup_policy) {   /* a new policy must be handled here */
		case CONF_CLEANUP_LRU:   /* hub_gc: least recently used snapshot first */
			break;
		}
		if (hub_gc(o.hub.cache, max, o.hub.dry_run, report_evict, &o.hub.dry_run, &e) < 0)
			exo_die(&e);
		return fflush(stdout) == 0 ? 0 : EXO_IOERR;
	}
	if (o.plan)
		read_plan(&o);
	if (!o.repo)
		usage(EXO_USAGE);
	environment(&o);
	o.include[o.n_include] = o.exclude[o.n_exclude] = NULL;
	o.hub.include = o.include;
	o.hub.exclude = o.exclude;
	if (!o.quiet && isatty(STDERR_FILENO) && !o.hub.dry_run)
		o.hub.progress = draw_progress;
	struct hub_model m;
	if (hub_fetch(&o.hub, o.repo, &m, &e) < 0)
		exo_die(&e);
	if (o.hub.dry_run)
		print_dry_run(&m);
	else
		write_record(&o, &m);
	hub_model_free(&m);
	conf_free(&conf);
	return fflush(stdout) == 0 ? 0 : EXO_IOERR;
}
