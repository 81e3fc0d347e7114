/* The hub's JSON answers, checked before anything in them is used: the
 * /api/models/ORG/NAME/revision/REV answer's commit and file list, and the
 * etag and size it lists for a file.  Everything here comes from the
 * network: what becomes a path is validated (hub/cache.h). */
#include "hub/hub.h"

#include <string.h>

int hub_repo_info_parse(const char *text, size_t len, const char *source, char commit[41],
			json_t **siblings, struct exo_err *e)
{
	*siblings = NULL;
	commit[0] = '\0';
	json_t *info = json_loadb(text ? text : "", text ? len : 0, 0, NULL);
	const char *sha = json_string_value(json_object_get(info, "sha"));
	json_t *sib = json_object_get(info, "siblings");
	int rc = 0;
	if (!sha || !json_is_array(sib))
		rc = exo_error(e, EXO_UNAVAILABLE, "%s: not a hub answer (no sha or siblings)", source);
	else if (!hub_commit_ok(sha))   /* it becomes a path: snapshots/SHA */
		rc = exo_error(e, EXO_DATAERR, "%s: field 'sha': not a commit id (40 lowercase hex "
			       "digits)", source);
	size_t i;
	json_t *s;
	if (rc == 0) {
		json_array_foreach(sib, i, s) {
			const char *name = json_string_value(json_object_get(s, "rfilename"));
			if (!name || !hub_file_name_ok(name)) {
				rc = exo_error(e, EXO_DATAERR, "%s: siblings[%zu]: unsafe file name '%s'",
					       source, i, name ? name : "(none)");
				break;
			}
		}
	}
	if (rc == 0) {
		memcpy(commit, sha, 41);
		*siblings = json_incref(sib);
	}
	json_decref(info);
	return rc;
}

bool hub_sibling_meta(const json_t *siblings, const char *name, char etag[HUB_ETAG_MAX],
		      int64_t *size)
{
	size_t i;
	json_t *s;
	etag[0] = '\0';
	json_array_foreach(siblings, i, s) {
		const char *n = json_string_value(json_object_get(s, "rfilename"));
		if (!n || strcmp(n, name))
			continue;
		json_t *lfs = json_object_get(s, "lfs");
		const char *id = lfs ? json_string_value(json_object_get(lfs, "sha256"))
				     : json_string_value(json_object_get(s, "blobId"));
		json_t *sz = json_object_get(lfs ? lfs : s, "size");
		if (id && hub_etag_normalise(id, etag) && json_is_integer(sz) &&
		    json_integer_value(sz) >= 0) {
			*size = json_integer_value(sz);
			return true;
		}
		etag[0] = '\0';
		return false;
	}
	return false;
}
