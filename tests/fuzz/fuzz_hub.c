/* libFuzzer target for what a hub sends that may become a path: the
 * /api/models answer (its sha and siblings, each sibling's etag) and the
 * names the cache layout is built from.  Whatever the bytes, an accepted
 * answer has a commit of 40 lowercase hex digits, safe file names and
 * valid blob ids, and no accepted name or parsed snapshot path climbs. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "hub/hub.h"

/* Whether s has a ".." or "." component, or starts with '/'. */
static int climbs(const char *s)
{
	if (s[0] == '/')
		return 1;
	for (const char *p = s; *p;) {
		size_t n = strcspn(p, "/");
		if ((n == 2 && p[0] == '.' && p[1] == '.') || (n == 1 && p[0] == '.'))
			return 1;
		p += n + (p[n] == '/');
	}
	return 0;
}

static void names(const char *s)
{
	char etag[HUB_ETAG_MAX], id[512], rev[256];
	if (hub_commit_ok(s) && (strlen(s) != 40 || climbs(s)))
		abort();
	if (hub_file_name_ok(s)) {
		if (climbs(s))
			abort();
		char *t = hub_link_target(s, "934d29f66271ea9d74759350fe523acefa5960fa");
		free(t);
	}
	if (hub_revision_ok(s) && (climbs(s) || strchr(s, ' ')))
		abort();
	if (hub_etag_normalise(s, etag) && !hub_blob_id_ok(etag))
		abort();
	if (hub_repo_id_ok(s)) {
		char *f = hub_repo_folder(s);
		if (!f || !hub_repo_folder_id(f, id, sizeof id) || strcmp(id, s))
			abort();   /* the folder name maps back to the id */
		free(f);
	}
	if (hub_snapshot_parse(s, id, sizeof id, rev, sizeof rev) &&
	    (!hub_repo_id_ok(id) || strchr(rev, '/') || !rev[0]))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	memcpy(s, data, size);
	s[size] = '\0';
	names(s);
	char commit[41];
	json_t *sib;
	struct exo_err e;
	if (hub_repo_info_parse(s, size, "fuzz", commit, &sib, &e) == 0) {
		if (!hub_commit_ok(commit))
			abort();
		size_t i;
		json_t *x;
		json_array_foreach(sib, i, x) {
			const char *name = json_string_value(json_object_get(x, "rfilename"));
			char etag[HUB_ETAG_MAX];
			int64_t sz = -1;
			if (!name || !hub_file_name_ok(name) || climbs(name))
				abort();
			if (hub_sibling_meta(sib, name, etag, &sz) && (!hub_blob_id_ok(etag) || sz < 0))
				abort();
		}
		json_decref(sib);
	} else if (e.code != EXO_DATAERR && e.code != EXO_UNAVAILABLE) {
		abort();
	}
	free(s);
	return 0;
}
