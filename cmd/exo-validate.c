/* exo-validate: answers "is this right?" with check records and an exit
 * status (0 all ok, 1 warnings, 2 a failure).  Each subcommand lives in
 * cmd/validate/NAME.c; the checks they run are libcommon/validate/. */
#include "cmd/validate/subcommand.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct subcommand {
	const char *name;
	int (*run)(int argc, char **argv);
	const char *synopsis;
} subcommands[] = {
	{"model", validate_model,
	 "model DIR|ORG/NAME [--reference REFDIR] [--stages N] [--dtype T] [--handover T]\n"
	 "                    [--threads N] [-o FORMAT] [-q]"},
	{"tokenizer", validate_tokenizer,
	 "tokenizer DIR [--cases FILE] [--chat FILE] [--chat-template FILE] [-o FORMAT] [-q]"},
	{"hardware", validate_hardware, "hardware [MODEL] [--sysroot DIR] [-o FORMAT] [-q]  (node records on stdin)"},
	{"plan", validate_plan, "plan [FILE] [--nodes FILE] [--live [--key FILE]] [-o FORMAT] [-q]"},
	{"records", validate_records, "records [FILE...] [--format msgpack|json|yaml] [-o FORMAT] [-q]"},
};
/* Options that stand for a subcommand; they parse the whole command line. */
static const struct subcommand option_commands[] = {
	{"--test-component", validate_test_component, "--test-component cpu|gpu|network|storage|all [-o FORMAT] [-q]"},
	{"--stress-test", validate_stress,
	 "--stress-test --model DIR [--reference REFDIR] [--duration SECONDS]\n"
	 "                    [--memory-pressure] [--threads N] [-o FORMAT] [-q]"},
};
#define N_OPTION_COMMANDS (sizeof option_commands / sizeof option_commands[0])
#define N_SUBCOMMANDS (sizeof subcommands / sizeof subcommands[0])

static void usage(int status)
{
	FILE *f = status ? stderr : stdout;
	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		fprintf(f, "%s exo-validate %s\n", i ? "      " : "usage:", subcommands[i].synopsis);
	for (size_t i = 0; i < N_OPTION_COMMANDS; i++)
		fprintf(f, "       exo-validate %s\n", option_commands[i].synopsis);
	fputs("       exo-validate --help | --version\n", f);
	if (!status)
		fputs("\nAnswers \"is this right?\" with check records; exit 0 all ok, 1 warnings,\n"
		      "2 a failure.  `exo-validate SUBCOMMAND --help` for one.  See exo-validate(1).\n", f);
	exit(status);
}

int main(int argc, char **argv)
{
	exo_progname = "exo-validate";
	if (argc < 2)
		usage(EXO_USAGE);
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))
		usage(0);
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("exo-validate %s\n", EXO_VERSION);
		return 0;
	}
	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].run(argc - 1, argv + 1);
	for (size_t i = 0; i < N_OPTION_COMMANDS; i++) {
		size_t n = strlen(option_commands[i].name);
		if (!strncmp(argv[1], option_commands[i].name, n) && (!argv[1][n] || argv[1][n] == '='))
			return option_commands[i].run(argc, argv);
	}
	if (argv[1][0] == '-')
		exo_errx(EXO_USAGE, "%s: unknown option (a subcommand comes first)", argv[1]);
	fprintf(stderr, "exo-validate: %s: unknown subcommand (", argv[1]);
	for (size_t i = 0; i < N_SUBCOMMANDS; i++)
		fprintf(stderr, "%s%s", i ? ", " : "", subcommands[i].name);
	fputs(")\n", stderr);
	return EXO_USAGE;
}
