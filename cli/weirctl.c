/* weirctl: the user's tool for Weir. */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weirctl <command> [options]\n"
            "\n"
            "commands:\n"
            "  validate -f FILE_OR_DIR...  check mesh manifests; exit 0 only if all are valid\n"
            "  inject -f FILE              add the Weir sidecar to workloads, offline\n"
            "  render -f FILE_OR_DIR...    print the proxy config of each namespace, offline\n"
            "  version                     print the version\n"
            "\n"
            "Run 'weirctl <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "validate") == 0)
        return weirctl_validate(argc - 1, argv + 1);
    if (strcmp(argv[1], "inject") == 0)
        return weirctl_inject(argc - 1, argv + 1);
    if (strcmp(argv[1], "render") == 0)
        return weirctl_render(argc - 1, argv + 1);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("weirctl %s\n", WEIR_VERSION);
        return 0;
    }
    if (strcmp(argv[1], "help") == 0 || strcmp(argv[1], "--help") == 0 ||
        strcmp(argv[1], "-h") == 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "weirctl: unknown command \"%s\"\n", argv[1]);
    usage(stderr);
    return 2;
}
