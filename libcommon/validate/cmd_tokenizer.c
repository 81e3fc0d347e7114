/* `exo-validate tokenizer DIR --cases FILE --chat FILE`: placeholder until
 * the tokenizer lands (issue 7). */
#include "validate/validate.h"

int validate_tokenizer(int argc, char **argv)
{
	(void)argc; (void)argv;
	exo_errx(EXO_SOFTWARE, "tokenizer: not built yet");
}
