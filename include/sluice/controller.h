/*
 * sluiced, the controller. cmd/sluiced.c is only
 * `return controller_main(argc, argv);`.
 */
#ifndef SLUICE_CONTROLLER_H
#define SLUICE_CONTROLLER_H

int controller_main(int argc, char **argv);

#endif
