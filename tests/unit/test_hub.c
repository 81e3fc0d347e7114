/* Unit tests of the hub client's pure parts: etags, names, cache paths,
 * links, URL escaping, layer ranges, globs, shard selection, hashes, refs. */
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include "../tap.h"
#include "hub/hub.h"
#include "util/file.h"
#include <fcntl.h>
#include <string.h>

#define ETAG_A "934d29f66271ea9d74759350fe523acefa5960fa"
#define ETAG_B "03f40e98fce7788ce75fdba9451a5bdbef369b3044445de5e7285fdcbeace512"

static void test_etags(void)
{
	char e[HUB_ETAG_MAX];
	const char *sha = "03f40e98fce7788ce75fdba9451a5bdbef369b3044445de5e7285fdcbeace512";
	ok(hub_etag_normalise("\"03f40e98fce7788ce75fdba9451a5bdbef369b3044445de5e7285fdcbeace512\"", e) &&
	   !strcmp(e, sha), "quoted sha256 etag");
	ok(hub_etag_normalise("W/\"934D29F66271EA9D74759350FE523ACEFA5960FA\"", e) &&
	   !strcmp(e, "934d29f66271ea9d74759350fe523acefa5960fa"), "weak, upper case git etag");
	ok(hub_etag_normalise("\"934d29f66271ea9d74759350fe523acefa5960fa-gzip\"", e) &&
	   !strcmp(e, "934d29f66271ea9d74759350fe523acefa5960fa"), "-gzip suffix dropped");
	ok(!hub_etag_normalise("\"5f1a-62c8\"", e), "nginx's own etag refused");
	ok(!hub_etag_normalise("\"../../../../etc/passwd\"", e), "a path is not an etag");
	ok(!hub_etag_normalise(NULL, e) && !e[0], "no etag");
}

static void test_names(void)
{
	ok(hub_repo_id_ok("meta-llama/Llama-3.2-1B"), "repo id ok");
	ok(!hub_repo_id_ok("llama"), "no org refused");
	ok(!hub_repo_id_ok("a/b/c"), "two slashes refused");
	ok(!hub_repo_id_ok("../x"), "dots refused");
	ok(!hub_repo_id_ok("a/b c"), "space refused");
	ok(!hub_repo_id_ok("a--b/c"), "double dash refused (ambiguous folder)");
	ok(hub_file_name_ok("config.json") && hub_file_name_ok("original/params.json") &&
	   hub_file_name_ok("a/.hidden"), "safe file names");
	ok(!hub_file_name_ok("../x") && !hub_file_name_ok("a/../../x") && !hub_file_name_ok("/etc/x") &&
	   !hub_file_name_ok("a//b") && !hub_file_name_ok("") && !hub_file_name_ok("a/") &&
	   !hub_file_name_ok("./a") && !hub_file_name_ok("a/.."), "unsafe file names refused");
	char *d = hub_repo_dir("/c", "meta-llama/Llama-3.2-1B");
	is_str(d, "/c/models--meta-llama--Llama-3.2-1B", "repo folder");
	free(d);
	d = hub_lock_dir("/c", "org/name");
	is_str(d, "/c/.locks/models--org--name", "lock folder");
	free(d);
	char *t = hub_link_target("config.json", "abc");
	is_str(t, "../../blobs/abc", "top-level link target");
	free(t);
	t = hub_link_target("original/sub/params.json", "abc");
	is_str(t, "../../../../blobs/abc", "one ../ more per subdirectory");
	free(t);
	char *u = hub_url_escape("refs/pr/1", false);
	is_str(u, "refs%2Fpr%2F1", "revision escaped with its slashes");
	free(u);
	u = hub_url_escape("dir/a b+c.json", true);
	is_str(u, "dir/a%20b%2Bc.json", "file name keeps slashes");
	free(u);
}

static void test_layers(void)
{
	int a = -1, b = -1;
	ok(hub_parse_layers("0:2", &a, &b) && a == 0 && b == 2, "0:2");
	ok(hub_parse_layers("10:32", &a, &b) && a == 10 && b == 32, "10:32");
	ok(!hub_parse_layers("2:2", &a, &b), "empty range refused");
	ok(!hub_parse_layers("3:1", &a, &b), "reversed refused");
	ok(!hub_parse_layers("1:", &a, &b) && !hub_parse_layers(":3", &a, &b) &&
	   !hub_parse_layers("-1:3", &a, &b) && !hub_parse_layers("1:3x", &a, &b), "malformed refused");
	const char *inc[] = { "*.json", NULL }, *exc[] = { "generation_*", NULL };
	ok(hub_glob_ok("config.json", inc, exc), "included");
	ok(!hub_glob_ok("generation_config.json", inc, exc), "excluded wins");
	ok(!hub_glob_ok("model.safetensors", inc, NULL), "not included");
	ok(hub_glob_ok("model.safetensors", NULL, NULL), "no globs: all");
	ok(hub_is_weights("model-00001-of-00002.safetensors") && hub_is_weights("pytorch_model.bin") &&
	   hub_is_weights("original/consolidated.00.pth"), "weight files");
	ok(!hub_is_weights("model.safetensors.index.json") && !hub_is_weights("tokenizer.json"),
	   "not weight files");
}

static char *joined(char **v)
{
	static char buf[512];
	buf[0] = '\0';
	for (size_t i = 0; v && v[i]; i++) {
		strcat(buf, i ? " " : "");
		strcat(buf, v[i]);
		free(v[i]);
	}
	free(v);
	return buf;
}

static void test_select(void)
{
	const char *idx = "{\"weight_map\": {"
		"\"model.embed_tokens.weight\": \"a\", \"model.layers.0.mlp.w\": \"a\","
		"\"model.layers.1.mlp.w\": \"b\", \"model.layers.2.mlp.w\": \"c\","
		"\"model.layers.3.mlp.w\": \"c\", \"model.norm.weight\": \"d\", \"lm_head.weight\": \"d\"}}";
	char **v;
	struct exo_err e;
	ok(hub_select_layers(idx, "i", 0, 1, 4, false, &v, &e) == 0, "select 0:1");
	is_str(joined(v), "a", "layer 0 and the embedding");
	hub_select_layers(idx, "i", 1, 3, 4, false, &v, &e);
	is_str(joined(v), "b c", "middle layers only");
	hub_select_layers(idx, "i", 3, 4, 4, false, &v, &e);
	is_str(joined(v), "c d", "last layer, norm and head");
	hub_select_layers(idx, "i", 3, 4, 4, true, &v, &e);
	is_str(joined(v), "a c d", "tied head needs the embedding");
	ok(hub_select_layers("{\"weight_map\": {\"x\": 3}}", "idx.json", 0, 1, 1, false, &v, &e) < 0 &&
	   strstr(e.msg, "idx.json: weight_map.x"), "a bad entry is named: %s", e.msg);
	ok(hub_select_layers("[", "idx.json", 0, 1, 1, false, &v, &e) < 0 && e.code == EXO_DATAERR,
	   "bad JSON refused");

	char path[4096];
	snprintf(path, sizeof path, "%s/fixtures/models/llama3-tiny-sharded/model.safetensors.index.json", tap_shared());
	char *text = file_read_all(path, NULL, NULL);
	if (!text) {
		skip("fixture index missing");
		return;
	}
	hub_select_layers(text, path, 0, 2, 4, false, &v, &e);
	is_str(joined(v), "model-00001-of-00002.safetensors", "fixture: layers 0:2 in shard 1");
	hub_select_layers(text, path, 1, 3, 4, false, &v, &e);
	ok(strstr(joined(v), "00002") != NULL, "fixture: layers 1:3 need shard 2");
	free(text);
}

static void test_hashes(const char *dir)
{
	char hex[HUB_ETAG_MAX], path[4096];
	struct hub_hash *h = hub_hash_new(true, 6);
	hub_hash_update(h, "hello\n", 6);
	hub_hash_final(h, hex);
	is_str(hex, "ce013625030ba8dba906f756967f9e9ca394464a", "git blob id of hello\\n");
	h = hub_hash_new(false, 0);
	hub_hash_update(h, "a", 1);
	hub_hash_reset(h);
	hub_hash_update(h, "abc", 3);
	hub_hash_final(h, hex);
	is_str(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
	       "sha256 of abc after a reset");
	snprintf(path, sizeof path, "%s/f", dir);
	file_write_atomic(path, "hello\n", 6, NULL);
	struct exo_err e;
	ok(hub_verify_file(path, "f", "ce013625030ba8dba906f756967f9e9ca394464a", &e) == 0, "verify ok");
	ok(hub_verify_file(path, "f", "0000000000000000000000000000000000000000", &e) < 0 &&
	   e.code == EXO_DATAERR && strstr(e.msg, "f: git blob id mismatch: expected 0000") &&
	   strstr(e.msg, "got ce0136"), "mismatch names both: %s", e.msg);
}

static void test_refs_links(const char *dir)
{
	struct exo_err e;
	char commit[41];
	const char *c = "4ed7871cf26148dfb5da81e5e4bf522452001c5c";
	ok(hub_ref_write(dir, "main", c, &e) == 0, "ref written");
	ok(hub_ref_read(dir, "main", commit) == 0 && !strcmp(commit, c), "ref read back");
	ok(hub_ref_write(dir, "refs/pr/1", c, &e) == 0 && hub_ref_read(dir, "refs/pr/1", commit) == 0,
	   "nested ref");
	ok(hub_ref_read(dir, c, commit) == 0 && !strcmp(commit, c), "a commit resolves to itself");
	ok(hub_ref_read(dir, "nope", commit) < 0 && !commit[0], "unknown ref");
	ok(hub_snapshot_link(dir, c, "sub/x.json", ETAG_A, &e) == 0, "link made");
	char p[4096], t[4096];
	snprintf(p, sizeof p, "%s/snapshots/%s/sub/x.json", dir, c);
	ssize_t n = readlink(p, t, sizeof t - 1);
	t[n > 0 ? n : 0] = '\0';
	is_str(t, "../../../blobs/" ETAG_A, "link target");
	ok(hub_snapshot_link(dir, c, "sub/x.json", ETAG_B, &e) == 0 && readlink(p, t, sizeof t) > 0 &&
	   !strncmp(t, "../../../blobs/" ETAG_B, 18 + 40), "link replaced");
	ok(hub_snapshot_link(dir, "../../../../tmp/pwn", "x", ETAG_A, &e) < 0 && e.code == EXO_DATAERR,
	   "a traversal for a commit makes no link: %s", e.msg);
	ok(hub_snapshot_link(dir, c, "x", "../../x", &e) < 0 && e.code == EXO_DATAERR,
	   "a path for an etag makes no link");
	ok(hub_ref_write(dir, "../../x", c, &e) < 0 && e.code == EXO_DATAERR, "a climbing ref refused");
	ok(hub_ref_write(dir, "main", "../../../tmp/x", &e) < 0 && e.code == EXO_DATAERR,
	   "a ref to a non-commit refused");
}

/* Links planted under the cache are refused, never followed. */
static void test_planted_links(const char *dir)
{
	struct exo_err e;
	char root[4096], out[4096], p[4200];
	snprintf(root, sizeof root, "%s/planted", dir);
	snprintf(out, sizeof out, "%s/outside", dir);
	mkdir(root, 0755);
	mkdir(out, 0755);
	snprintf(p, sizeof p, "%s/models--a--b", root);
	ok(symlink(out, p) == 0, "a link planted for a repository folder");
	int fd = hub_dir_open(root, "models--a--b/blobs", true, &e);
	ok(fd < 0 && e.code == EXO_DATAERR && strstr(e.msg, "models--a--b: a symbolic link"),
	   "refused, naming it: %s", e.msg);
	snprintf(p, sizeof p, "%s/blobs", out);
	ok(access(p, F_OK) != 0, "nothing made through it");
	fd = hub_dir_open(root, "models--c--d/blobs", true, &e);
	ok(fd >= 0, "a real folder is made");
	snprintf(p, sizeof p, "%s/victim", out);
	file_write_atomic(p, "keep\n", 5, NULL);
	ok(symlinkat(p, fd, "x.incomplete") == 0, "a link planted for an incomplete file");
	int f = hub_file_open(fd, "blobs", "x.incomplete", O_RDWR | O_CREAT, &e);
	ok(f < 0 && e.code == EXO_DATAERR && strstr(e.msg, "x.incomplete: a symbolic link"),
	   "not opened: %s", e.msg);
	ok(mkfifoat(fd, "fifo", 0644) == 0 &&
	   hub_file_open(fd, "blobs", "fifo", O_RDWR | O_CREAT, &e) < 0 && e.code == EXO_DATAERR,
	   "a FIFO is not a file (and opening it does not block)");
	f = hub_file_open(fd, "blobs", "new", O_RDWR | O_CREAT, &e);
	ok(f >= 0, "a new file is made");
	if (f >= 0)
		close(f);
	ok(hub_write_atomic_at(fd, "blobs", "ref", "x", 1, &e) == 0 && hub_regular_file(fd, "ref", NULL),
	   "written atomically");
	ok(symlinkat(p, fd, "lnk") == 0 && !hub_regular_file(fd, "lnk", NULL), "a link is no regular file");
	close(fd);
	char *victim = file_read_all(p, NULL, NULL);
	is_str(victim, "keep\n", "the file outside is untouched");
	free(victim);
}

static void test_layout(const char *dir)
{
	ok(hub_commit_ok("4ed7871cf26148dfb5da81e5e4bf522452001c5c"), "a commit");
	ok(!hub_commit_ok("4ED7871CF26148DFB5DA81E5E4BF522452001C5C") &&
	   !hub_commit_ok("../../../../../../../../../../../../tmp/pwn") && !hub_commit_ok("abc") &&
	   !hub_commit_ok(NULL), "upper case, traversal, short: not commits");
	ok(hub_blob_id_ok(ETAG_A) && hub_blob_id_ok(ETAG_B) && !hub_blob_id_ok("abc") &&
	   !hub_blob_id_ok("4ed7871cf26148dfb5da81e5e4bf522452001c5c0"), "blob ids: 40 or 64 hex");
	ok(hub_revision_ok("main") && hub_revision_ok("refs/pr/1") && hub_revision_ok("v1.0"),
	   "revisions");
	ok(!hub_revision_ok("../x") && !hub_revision_ok("/abs") && !hub_revision_ok("a b") &&
	   !hub_revision_ok("a\nb") && !hub_revision_ok(""), "unsafe revisions");
	char id[256], rev[64];
	ok(hub_repo_folder_id("models--meta-llama--Llama-3.2-1B", id, sizeof id) &&
	   !strcmp(id, "meta-llama/Llama-3.2-1B"), "folder -> id");
	ok(!hub_repo_folder_id("models--x", id, sizeof id) && !hub_repo_folder_id("datasets--a--b", id, sizeof id),
	   "not folders of the layout");
	ok(hub_snapshot_parse("/c/models--org--name/snapshots/4ed7/sub/x", id, sizeof id, rev, sizeof rev) &&
	   !strcmp(id, "org/name") && !strcmp(rev, "4ed7"), "snapshot path parsed");
	ok(!hub_snapshot_parse("/c/models--org--name/blobs/x", id, sizeof id, rev, sizeof rev) &&
	   !hub_snapshot_parse("/home/u/model", id, sizeof id, rev, sizeof rev), "other paths are not");
	char cache[4096], snap[4096];
	struct exo_err e;
	snprintf(cache, sizeof cache, "%s/cache", dir);
	char *repo = hub_repo_dir(cache, "org/name");
	const char *c = "4ed7871cf26148dfb5da81e5e4bf522452001c5c";
	ok(hub_ref_write(repo, "main", c, &e) == 0 && hub_snapshot_link(repo, c, "f", ETAG_A, &e) == 0,
	   "a snapshot");
	ok(hub_snapshot_dir(cache, "org/name", "main", snap, sizeof snap, &e) == 0 && strstr(snap, c),
	   "resolved through refs/main");
	ok(hub_snapshot_dir(cache, "org/name", c, snap, sizeof snap, &e) == 0, "resolved by commit");
	ok(hub_snapshot_dir(cache, "org/name", "dev", snap, sizeof snap, &e) < 0 && e.code == EXO_NOINPUT,
	   "an unknown branch is not there");
	ok(hub_snapshot_dir(cache, "org/name", "../../x", snap, sizeof snap, &e) < 0 &&
	   e.code == EXO_DATAERR, "a climbing revision is refused");
	free(repo);
	setenv("HF_HUB_CACHE", "/x/hub", 1);
	hub_cache_default(cache, sizeof cache);
	is_str(cache, "/x/hub", "HF_HUB_CACHE first");
	unsetenv("HF_HUB_CACHE");
	setenv("HF_HOME", "/y", 1);
	hub_cache_default(cache, sizeof cache);
	is_str(cache, "/y/hub", "then HF_HOME/hub");
	char yaml[4200];
	snprintf(yaml, sizeof yaml, "%s/exo.yaml", dir);
	const char *text = "storage:\n  modelCache:\n    path: /z/models\n";
	file_write_atomic(yaml, text, strlen(text), NULL);
	setenv("EXO_CONFIG", yaml, 1);
	ok(hub_cache_location(cache, sizeof cache, &e) == 0, "location");
	is_str(cache, "/z/models", "exo.yaml's storage.modelCache.path wins");
	unsetenv("EXO_CONFIG");
	unsetenv("HF_HOME");
}

int main(void)
{
	char dir[] = "/tmp/test_hub.XXXXXX";
	if (!mkdtemp(dir))
		return 1;
	test_etags();
	test_names();
	test_layers();
	test_select();
	test_hashes(dir);
	test_refs_links(dir);
	test_planted_links(dir);
	test_layout(dir);
	char cmd[256];
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	if (system(cmd) != 0)
		diag("could not remove %s", dir);
	return done_testing();
}
