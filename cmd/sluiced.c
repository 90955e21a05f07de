/* sluiced: the controller. Everything real is in src/controller/. */
#include "sluice/controller.h"

int main(int argc, char **argv)
{
	return controller_main(argc, argv);
}
