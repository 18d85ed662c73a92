/*
 * weirctl subcommands. Each takes argc/argv starting at its own name and
 * returns the process exit status: 0 success, 1 the input was rejected,
 * 2 usage or I/O error.
 */
#ifndef WEIR_CLI_CLI_H
#define WEIR_CLI_CLI_H

int weirctl_validate(int argc, char **argv);
int weirctl_inject(int argc, char **argv);
int weirctl_render(int argc, char **argv);

#endif
