/* hardware.cpu.affinity applied: the process, and so every compute thread
 * it starts afterwards (OpenMP's and BLIS's inherit the mask), runs only on
 * the CPUs listed.  Called by the commands that compute, before they start
 * any thread. */
#include "config/config.h"

#include <sched.h>
#include <stdio.h>

int conf_apply_affinity(const struct exo_config *c, struct exo_err *e)
{
	const struct conf_ints *cpus = &c->hardware.cpu.affinity;
	if (cpus->n == 0)
		return 0;
	cpu_set_t allowed, want;
	CPU_ZERO(&want);
	if (sched_getaffinity(0, sizeof allowed, &allowed) < 0)
		CPU_ZERO(&allowed);
	for (size_t i = 0; i < cpus->n; i++) {
		int cpu = cpus->v[i];
		if (cpu >= CPU_SETSIZE || !CPU_ISSET(cpu, &allowed))
			return exo_error(e, EXO_CONFIG, "%s: key 'hardware.cpu.affinity': CPU %d is not one "
					 "this process may run on", c->source[0] ? c->source : "exo.yaml", cpu);
		CPU_SET(cpu, &want);
	}
	if (sched_setaffinity(0, sizeof want, &want) < 0)
		return exo_error(e, EXO_CONFIG, "%s: key 'hardware.cpu.affinity': cannot pin to those "
				 "CPUs", c->source[0] ? c->source : "exo.yaml");
	return 0;
}
