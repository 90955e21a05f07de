/* sluice: the command line. Everything real is in src/cli/. */
#include "sluice/cli.h"

int main(int argc, char **argv)
{
	return cli_main(argc, argv);
}
