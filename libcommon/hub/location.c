/* Where the Hugging Face cache is (hub/cache.h): the configured
 * storage.modelCache.path, whose default is huggingface_hub's own. */
#include "hub/cache.h"
#include "config/config.h"

#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *home_dir(void)
{
	const char *h = getenv("HOME");
	if (h && *h)
		return h;
	struct passwd *pw = getpwuid(getuid());
	return pw && pw->pw_dir && *pw->pw_dir ? pw->pw_dir : NULL;
}

void hub_cache_default(char *out, size_t size)
{
	const char *hub = getenv("HF_HUB_CACHE"), *hf = getenv("HF_HOME"), *home = home_dir();
	if (hub && *hub)
		snprintf(out, size, "%s", hub);
	else if (hf && *hf)
		snprintf(out, size, "%s/hub", hf);
	else
		snprintf(out, size, "%s/.cache/huggingface/hub", home ? home : "");
}

int hub_cache_location(char *out, size_t size, struct exo_err *e)
{
	struct exo_config conf;
	conf_init(&conf);
	int rc = conf_load(&conf, NULL, e);
	if (rc == 0)
		snprintf(out, size, "%s", conf.storage.model_cache.path);
	conf_free(&conf);
	return rc;
}

