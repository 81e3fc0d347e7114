/* exo-shard-serve: serve one stage of a pipeline (a range of layers) over
 * the shard protocol, or with --all every stage of a plan whose address is
 * this host's, each in its own process. */
#include "api/api.h"
#include "config/config.h"
#include "kernels/kern.h"
#include "model/checkpoint.h"
#include "net/net.h"
#include "serve/serve.h"
#include "util/file.h"
#include "util/log.h"
#include "util/opt.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: exo-shard-serve --plan FILE --stage N [options]\n"
	"       exo-shard-serve --plan FILE --all [--node NAME] [options]\n"
	"       exo-shard-serve --model DIR|ORG/NAME --layers A:B --listen ADDR [--next ADDR] [options]\n"
	"       exo-shard-serve --gen-key FILE\n"
	"options: [--threads N] [--dtype f32|f16|bf16|q8_0|q4_0] [--handover f32|f16|bf16]\n"
	"         [--ctx N] [--max-sessions N] [--max-connections N] [--key FILE] [--insecure]\n"
	"         [--timeout MS] [--idle-timeout S] [-q] [--help] [--version]\n"
"api (the stage holding layer 0): [--api HOST:PORT] [--api-key-file FILE]\n"
"         [--chat-template FILE] [--model-name NAME]\n";

struct options {
	const char *plan, *model, *listen, *next, *key, *node, *gen_key;
	const char *api, *api_key_file, *chat_template, *model_name;
	int stage, all, first, last, threads, dtype, handover, ctx, max_sessions, max_conns;
	int insecure, quiet, timeout_ms, idle_s;
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(int status)
{
	fputs(usage_text, status ? stderr : stdout);
	if (!status)
		fputs("\nServes a range of a model's layers to the previous stage of a pipeline and\n"
		      "hands hidden states on to the next.  See exo-shard-serve(1).\n", stdout);
	exit(status);
}

static int parse_int(const char *opt, const char *s, int min, int max)
{
	long v;
	if (!opt_long(s, min, max, &v))
		exo_errx(EXO_USAGE, "%s %s: expected an integer %d..%d", opt, s, min, max);
	return (int)v;
}

static void parse_layers(const char *s, struct options *o)
{
	if (sscanf(s, "%d:%d", &o->first, &o->last) != 2 || o->first < 0 || o->last <= o->first)
		exo_errx(EXO_USAGE, "--layers %s: expected A:B with 0 <= A < B (B exclusive)", s);
}

static void parse_options(int argc, char **argv, struct options *o)
{
	static const struct option longopts[] = {
		{"plan", required_argument, NULL, 'p'}, {"stage", required_argument, NULL, 's'},
		{"all", no_argument, NULL, 'a'}, {"node", required_argument, NULL, 'N'},
		{"model", required_argument, NULL, 'm'}, {"layers", required_argument, NULL, 'l'},
		{"listen", required_argument, NULL, 'L'}, {"next", required_argument, NULL, 'n'},
		{"threads", required_argument, NULL, 't'}, {"dtype", required_argument, NULL, 'd'},
		{"handover", required_argument, NULL, 'H'}, {"ctx", required_argument, NULL, 'c'},
		{"max-sessions", required_argument, NULL, 'S'},
		{"max-connections", required_argument, NULL, 'C'}, {"key", required_argument, NULL, 'k'},
		{"insecure", no_argument, NULL, 'i'}, {"gen-key", required_argument, NULL, 'g'},
		{"timeout", required_argument, NULL, 'T'}, {"quiet", no_argument, NULL, 'q'},
		{"idle-timeout", required_argument, NULL, 'I'},
		{"api", required_argument, NULL, 'A'}, {"api-key-file", required_argument, NULL, 'K'},
		{"chat-template", required_argument, NULL, 'J'},
		{"model-name", required_argument, NULL, 'M'},
		{"help", no_argument, NULL, 'h'}, {"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0}};
	int c;
	while ((c = getopt_long(argc, argv, "qh", longopts, NULL)) != -1) {
		switch (c) {
		case 'p': o->plan = optarg; break;
		case 's': o->stage = parse_int("--stage", optarg, 0, 4096); break;
		case 'a': o->all = 1; break;
		case 'N': o->node = optarg; break;
		case 'm': o->model = optarg; break;
		case 'l': parse_layers(optarg, o); break;
		case 'L': o->listen = optarg; break;
		case 'n': o->next = optarg; break;
		case 't': o->threads = parse_int("--threads", optarg, 1, 4096); break;
		case 'd':
			if ((o->dtype = kern_dtype_parse(optarg)) < 0)
				exo_errx(EXO_USAGE, "--dtype %s: expected f32, f16, bf16, q8_0 or q4_0", optarg);
			break;
		case 'H':
			if ((o->handover = kern_dtype_parse(optarg)) < 0 || o->handover > KD_BF16)
				exo_errx(EXO_USAGE, "--handover %s: expected f32, f16 or bf16", optarg);
			break;
		case 'c': o->ctx = parse_int("--ctx", optarg, 1, PROTO_MAX_POS); break;
		case 'S': o->max_sessions = parse_int("--max-sessions", optarg, 1, 65536); break;
		case 'C': o->max_conns = parse_int("--max-connections", optarg, 1, 65536); break;
		case 'k': o->key = optarg; break;
		case 'i': o->insecure = 1; break;
		case 'g': o->gen_key = optarg; break;
		case 'T': o->timeout_ms = parse_int("--timeout", optarg, 1, 86400000); break;
		case 'I': o->idle_s = parse_int("--idle-timeout", optarg, 1, 2000000); break;
		case 'A': o->api = optarg; break;
		case 'K': o->api_key_file = optarg; break;
		case 'J': o->chat_template = optarg; break;
		case 'M': o->model_name = optarg; break;
		case 'q': o->quiet = 1; break;
		case 'h': usage(0); break;
		case 'V': printf("exo-shard-serve %s\n", EXO_VERSION); exit(0);
		default: usage(EXO_USAGE);
		}
	}
	if (optind != argc)
		usage(EXO_USAGE);
}

/* ---- --all ---- */

static bool same_ip(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	return a->sa_family == AF_INET6 &&
	       !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
		       &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr));
}

static bool loopback_or_any(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t ip = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);
		return ip >> 24 == 127 || ip == 0;
	}
	const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	return sa->sa_family == AF_INET6 && (IN6_IS_ADDR_LOOPBACK(a) || IN6_IS_ADDR_UNSPECIFIED(a) ||
					     (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127));
}

/* Whether a stage's HOST:PORT is this host's: a loopback or wildcard
 * address, or one of its interfaces' (a name counts when it resolves to
 * one of those). */
static bool address_is_here(const char *addr, const struct ifaddrs *ifs)
{
	char host[256];
	int port;
	if (conf_parse_addr(addr, 0, host, sizeof host, &port) < 0)
		return false;
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return false;
	bool here = false;
	for (const struct addrinfo *ai = res; ai && !here; ai = ai->ai_next) {
		here = loopback_or_any(ai->ai_addr);
		for (const struct ifaddrs *i = ifs; i && !here; i = i->ifa_next)
			here = i->ifa_addr && same_ip(ai->ai_addr, i->ifa_addr);
	}
	freeaddrinfo(res);
	return here;
}

/* The stage's argument vector: ours without --all and --node, with --stage. */
static char **stage_argv(int argc, char **argv, char *idx)
{
	char **av = xcalloc((size_t)argc + 3, sizeof *av);
	int k = 0;
	for (int j = 0; j < argc; j++) {
		if (strcmp(argv[j], "--all") == 0)
			continue;
		if (strcmp(argv[j], "--node") == 0 && j + 1 < argc) {
			j++;
			continue;
		}
		if (strncmp(argv[j], "--node=", 7) == 0)
			continue;
		av[k++] = argv[j];
	}
	av[k++] = "--stage", av[k++] = idx;
	return av;
}

/* Which stages --all starts: with --node, those placed on that node name;
 * otherwise those whose address is one of this host's (loopback
 * included), so that a plan of several nodes made on one machine starts
 * whole. */
static bool stage_is_mine(const struct options *o, const struct serve_stage *st,
			  const struct ifaddrs *ifs)
{
	if (o->node)
		return strcmp(st->node, o->node) == 0;
	return st->address[0] && address_is_here(st->address, ifs);
}

static int wait_all(const pid_t *pids, size_t n)
{
	int status = 0;
	size_t left = n;
	bool passed = false;
	while (left > 0) {
		if (stop && !passed) {
			for (size_t i = 0; i < n; i++)
				kill(pids[i], SIGTERM);
			passed = true;
		}
		int ws;
		pid_t pid = waitpid(-1, &ws, passed ? 0 : WNOHANG);
		if (pid == 0) /* a signal between the check and the wait is seen within 100 ms */
			usleep(100000);
		if (pid <= 0)
			continue;
		left--;
		int st = WIFEXITED(ws) ? WEXITSTATUS(ws) : EXO_SOFTWARE;
		if (st && !status)
			status = st;
	}
	return status;
}

/* --all: each chosen stage its own process (this program again with
 * --stage), each one said as it starts; signals are passed on, and the
 * exit status is the first failure's. */
static int run_all(int argc, char **argv, const struct options *o, const struct serve_plan *plan)
{
	struct ifaddrs *ifs = NULL;
	if (!o->node && getifaddrs(&ifs) < 0)
		exo_errx(EXO_SOFTWARE, "getifaddrs: %s", strerror(errno));
	pid_t pids[256];
	size_t n = 0;
	for (size_t i = 0; i < plan->n_stages && n < 256; i++) {
		const struct serve_stage *st = &plan->stages[i];
		if (!stage_is_mine(o, st, ifs))
			continue;
		char idx[16];
		snprintf(idx, sizeof idx, "%d", st->index);
		char **av = stage_argv(argc, argv, idx);
		pid_t pid = fork();
		if (pid == 0) {
			execv("/proc/self/exe", av);
			execvp(argv[0], av);
			_exit(EXO_SOFTWARE);
		}
		free(av);
		if (pid < 0)
			continue;
		pids[n++] = pid;
		log_info("--all: started stage %d (node %s, layers %d..%d) on %s, pid %d", st->index,
			 st->node, st->first, st->last - 1, st->address[0] ? st->address : "?", (int)pid);
	}
	freeifaddrs(ifs);
	if (n == 0) {
		if (o->node)
			exo_errx(EXO_USAGE, "%s: no stage of the plan is placed on node %s", o->plan, o->node);
		exo_errx(EXO_USAGE, "%s: no stage of the plan has an address of this host (give "
			 "--node NAME to choose by node name)", o->plan);
	}
	return wait_all(pids, n);
}

/* The OpenAI API on the stage holding layer 0: a head sharing the stage's
 * weights, the tokenizer of the model's directory. */
struct api_side {
	struct head *head;
	struct tok *tok;
	struct api_server *api;
	struct api_metrics_server *metrics;
};

static void api_open(const struct options *o, const struct stage_opts *so, struct stage_server *s,
		     struct api_side *a)
{
	struct exo_err e = {0};
	char dir[4096], *key = NULL;
	size_t len;

	if (so->first != 0)
		exo_errx(EXO_USAGE, "--api: only the stage holding layer 0 serves the API");
	if (ckpt_resolve(so->model, dir, sizeof dir, &e) < 0 || !(a->tok = tok_load(dir, &e)))
		exo_die(&e);
	if (o->api_key_file) {
		if (!(key = file_read_all(o->api_key_file, &len, &e)))
			exo_die(&e);
		key[strcspn(key, "\r\n")] = '\0';
		if (!key[0])
			exo_errx(EXO_CONFIG, "%s: the API key file is empty", o->api_key_file);
	}
	struct head_opts ho = {.model = so->model, .local_layers = eng_last_layer(stage_engine(s)),
			       .next = so->next, .eng = so->eng, .net = so->net,
			       .stage = stage_engine(s), .stage_lock = stage_engine_lock(s),
			       .handover = so->handover, .retry_ms = o->timeout_ms};
	if (!(a->head = head_open(&ho, &e)))
		exo_die(&e);
	char name[512];
	api_model_name(so->model, name, sizeof name);
	struct api_opts ao = {.listen = o->api, .api_key = key, .chat_template = o->chat_template,
			      .model_id = o->model_name ? o->model_name : name};
	struct model_quant q;
	if (model_quant_load(&q, dir, &e) == 0 && q.present)
		ao.quant_bits = q.base.bits, ao.quant_group = q.base.group;
	model_quant_free(&q);
	if (!(a->api = api_start(a->head, a->tok, &ao, &e)))
		exo_die(&e);
	free(key);
}

/* monitoring.prometheus: the API's metrics on the API's host, at the
 * configured port and path; a stage without the API has none to serve. */
static void metrics_open(const struct options *o, const struct exo_config *conf, struct api_side *a)
{
	struct exo_err e = {0};
	char host[256], addr[300];
	int port;
	if (!conf->monitoring.prometheus.enable)
		return;
	if (!a->api) {
		log_warn("monitoring.prometheus: this stage serves no API (--api or networking.api "
			 "on the stage holding layer 0), so it has no metrics to serve");
		return;
	}
	if (conf_parse_addr(o->api, 0, host, sizeof host, &port) < 0)
		exo_errx(EXO_USAGE, "--api %s: expected HOST:PORT", o->api);
	snprintf(addr, sizeof addr, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
		 conf->monitoring.prometheus.port);
	if (!(a->metrics = api_metrics_start(a->api, addr, conf->monitoring.prometheus.path, &e)))
		exo_die(&e);
	log_info("metrics: http://%s%s", addr, conf->monitoring.prometheus.path);
}

static void api_close(struct api_side *a)
{
	api_metrics_stop(a->metrics);
	api_stop(a->api);
	head_close(a->head);
	tok_free(a->tok);
}

static void load_key(const struct options *o, const struct exo_config *conf,
		     uint8_t key[NET_KEY_BYTES], bool *have)
{
	struct exo_err e = {0};
	const char *path = o->key ? o->key : conf->networking.cluster_key[0] ? conf->networking.cluster_key : NULL;
	*have = false;
	if (path) {
		if (net_key_load(path, key, &e) < 0)
			exo_die(&e);
		*have = true;
	}
}

/* What exo.yaml gives a stage where no flag does: compute threads and their
 * CPUs, the weights' pages, where to listen (after the plan's address) and,
 * on the stage holding layer 0, where to serve the API. */
static void from_config(struct options *o, struct stage_opts *so, const struct exo_config *conf)
{
	struct exo_err e = {0};
	if (conf_apply_affinity(conf, &e) < 0)
		exo_die(&e);
	if (!o->threads)
		so->eng.threads = conf->hardware.cpu.threads ? conf->hardware.cpu.threads
							      : (int)conf->hardware.cpu.affinity.n;
	so->eng.small_pages = !conf->hardware.memory.hugepages;
	if (!so->listen)
		so->listen = conf->networking.listen;
	if (!o->api && conf->networking.api[0] && so->first == 0)
		o->api = conf->networking.api;
}

/* The stage's options from the plan (flags given override it). */
static void from_plan(struct options *o, struct stage_opts *so, struct serve_plan *plan)
{
	struct exo_err e = {0};
	if (serve_plan_load(o->plan, plan, &e) < 0)
		exo_die(&e);
	if (o->all)
		return;
	const struct serve_stage *ps = serve_plan_stage(plan, o->stage);
	if (!ps)
		exo_errx(EXO_USAGE, "%s: the plan has no stage %d", o->plan, o->stage);
	const struct serve_stage *nx = serve_plan_stage(plan, o->stage + 1);
	so->model = o->model ? o->model : plan->model;
	so->first = o->last ? o->first : ps->first;
	so->last = o->last ? o->last : ps->last;
	so->listen = o->listen ? o->listen : ps->address[0] ? ps->address : NULL;
	so->next = o->next ? o->next : nx && nx->address[0] ? nx->address : NULL;
	if (nx && !so->next)
		exo_errx(EXO_DATAERR, "%s: stage %d has no address", o->plan, nx->index);
	if (!o->ctx && plan->context)
		so->eng.ctx = plan->context;
	if (!o->max_sessions && plan->sessions)
		so->max_sessions = plan->sessions;
	if (o->dtype < 0 && plan->dtype[0] && kern_dtype_parse(plan->dtype) >= 0)
		so->eng.dtype = kern_dtype_parse(plan->dtype);
}

int main(int argc, char **argv)
{
	struct options o = {.stage = -1, .dtype = -1, .handover = KD_F32};
	exo_progname = "exo-shard-serve";
	parse_options(argc, argv, &o);
	if (!getenv("EXO_DEBUG"))
		log_set_level(o.quiet ? LOG_WARN : LOG_INFO);
	struct exo_err e = {0};
	if (o.gen_key) {
		if (net_key_generate(o.gen_key, &e) < 0)
			exo_die(&e);
		return 0;
	}
	struct sigaction sa = {.sa_handler = on_signal};
	sigaction(SIGTERM, &sa, NULL), sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	struct stage_opts so = {.model = o.model, .first = o.first, .last = o.last ? o.last : -1,
				.index = o.stage, .listen = o.listen, .next = o.next,
				.eng = {.dtype = o.dtype, .threads = o.threads, .ctx = o.ctx},
				.handover = o.handover, .max_connections = o.max_conns,
				.max_sessions = o.max_sessions, .idle_timeout_ms = o.idle_s * 1000,
				.net = {.io_timeout_ms = o.timeout_ms, .connect_timeout_ms = o.timeout_ms}};
	struct serve_plan plan = {0};
	if (o.plan && o.stage < 0 && !o.all)
		exo_errx(EXO_USAGE, "--plan needs --stage N or --all");
	if (o.plan)
		from_plan(&o, &so, &plan);
	if (o.all) {   /* each stage reads the configuration itself */
		int st = run_all(argc, argv, &o, &plan);
		serve_plan_free(&plan);
		return st;
	}
	if (!so.model)
		exo_errx(EXO_USAGE, "a stage needs --plan FILE --stage N, or --model and --layers");
	struct exo_config conf;
	conf_init(&conf);
	if (conf_load(&conf, NULL, &e) < 0)
		exo_die(&e);
	from_config(&o, &so, &conf);
	uint8_t key[NET_KEY_BYTES];
	bool have_key;
	load_key(&o, &conf, key, &have_key);
	so.net.key = have_key ? key : NULL;
	if (!have_key && !o.insecure && !net_addr_is_loopback(so.listen))
		exo_errx(EXO_CONFIG, "refusing to listen on %s without a cluster key (--key or "
			 "networking.clusterKey; --insecure to allow it)", so.listen);
	struct stage_server *s = stage_open(&so, &e);
	if (!s)
		exo_die(&e);
	struct api_side api = {0};
	if (o.api)
		api_open(&o, &so, s, &api);
	metrics_open(&o, &conf, &api);
	int rc = stage_run(s, &stop, &e);
	api_close(&api);
	stage_close(s);
	serve_plan_free(&plan);
	conf_free(&conf);
	if (rc < 0)
		exo_die(&e);
	return 0;
}
