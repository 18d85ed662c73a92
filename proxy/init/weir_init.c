/*
 * weir-init: the pod's init container. Reads its options from flags (or the
 * WEIR_* environment variables of the same names), builds the capture rules
 * with lib/iptables/rules (pure), and applies them with one
 * `iptables-restore --noflush` transaction per address family. Everything that
 * decides is in the library; this file only does the I/O around it.
 *
 * Exit status: 0 done, 1 the rules could not be read or applied (including a
 * missing CAP_NET_ADMIN), 2 usage error (bad flag or value).
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <ifaddrs.h>
#include <linux/capability.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/ports.h"
#include "iptables/rules.h"

#define EXIT_APPLY 1
#define EXIT_USAGE 2

/* iptables-save of a pod's nat table is a few kilobytes; this is a guard, not
 * a size anyone should reach. */
#define TOOL_STDOUT_MAX (4 * 1024 * 1024)
#define TOOL_STDERR_MAX (64 * 1024)
/* The legacy backend waits for the xtables lock; an init container that hangs
 * forever blocks the pod with no message, so give up and say why. */
#define TOOL_TIMEOUT_MS (60 * 1000)

#define CAP_MESSAGE                                                                            \
    "cannot change iptables rules: CAP_NET_ADMIN is required (run as root with NET_ADMIN and " \
    "NET_RAW)"

enum ipv6_mode {
    IPV6_AUTO,
    IPV6_ON,
    IPV6_OFF,
};

enum flag_id {
    F_PROXY_PORT,
    F_INBOUND_CAPTURE_PORT,
    F_PROXY_UID,
    F_PROXY_GID,
    F_INCLUDE_OUTBOUND_RANGES,
    F_EXCLUDE_OUTBOUND_RANGES,
    F_INCLUDE_INBOUND_PORTS,
    F_EXCLUDE_INBOUND_PORTS,
    F_EXCLUDE_OUTBOUND_PORTS,
    F_IPV6,
    F_DRY_RUN,
    F_CLEANUP,
    F_LOG_FORMAT,
    F_COUNT,
    F_HELP = F_COUNT,
    F_VERSION,
};

/* getopt_long values, clear of every short option character. */
#define OPT_BASE 256

/* The flag names are a contract: the injector writes them, from Istio's
 * traffic.sidecar.istio.io annotations, into the init container's args or env. */
static const struct {
    const char *name;
    bool has_value;
    const char *help;
} flags[F_COUNT] = {
    [F_PROXY_PORT] = {"proxy-port", true, "outbound capture port"},
    [F_INBOUND_CAPTURE_PORT] = {"inbound-capture-port", true, "inbound capture port"},
    [F_PROXY_UID] = {"proxy-uid", true, "UID of the proxy, never captured"},
    [F_PROXY_GID] = {"proxy-gid", true, "GID of the proxy, never captured"},
    [F_INCLUDE_OUTBOUND_RANGES] = {"include-outbound-ranges", true,
                                   "CIDRs captured outbound, '*' = all"},
    [F_EXCLUDE_OUTBOUND_RANGES] = {"exclude-outbound-ranges", true,
                                   "CIDRs never captured outbound"},
    [F_INCLUDE_INBOUND_PORTS] = {"include-inbound-ports", true,
                                 "ports captured inbound, '*' = all, '' = none"},
    [F_EXCLUDE_INBOUND_PORTS] = {"exclude-inbound-ports", true, "ports never captured inbound"},
    [F_EXCLUDE_OUTBOUND_PORTS] = {"exclude-outbound-ports", true,
                                  "destination ports never captured outbound"},
    [F_IPV6] = {"ipv6", true, "auto|on|off: also write ip6tables rules"},
    [F_DRY_RUN] = {"dry-run", false, "print the iptables-restore input and change nothing"},
    [F_CLEANUP] = {"cleanup", false, "remove the WEIR_ chains and the jumps to them"},
    [F_LOG_FORMAT] = {"log-format", true, "json|text"},
};

/* Defaults shown by --help, taken from the shared port table so the help
 * cannot drift from what is applied. */
static void default_text(int id, char *buf, size_t len)
{
    const struct weir_ports *p = &weir_default_ports;
    switch (id) {
    case F_PROXY_PORT:
        snprintf(buf, len, "%u", (unsigned)p->outbound_capture);
        break;
    case F_INBOUND_CAPTURE_PORT:
        snprintf(buf, len, "%u", (unsigned)p->inbound_capture);
        break;
    case F_PROXY_UID:
        snprintf(buf, len, "%lu", (unsigned long)p->proxy_uid);
        break;
    case F_PROXY_GID:
        snprintf(buf, len, "%lu", (unsigned long)p->proxy_gid);
        break;
    case F_INCLUDE_OUTBOUND_RANGES:
    case F_INCLUDE_INBOUND_PORTS:
        snprintf(buf, len, "'*'");
        break;
    case F_EXCLUDE_OUTBOUND_RANGES:
    case F_EXCLUDE_INBOUND_PORTS:
    case F_EXCLUDE_OUTBOUND_PORTS:
        snprintf(buf, len, "''");
        break;
    case F_IPV6:
        snprintf(buf, len, "auto");
        break;
    case F_LOG_FORMAT:
        snprintf(buf, len, "text");
        break;
    default:
        buf[0] = '\0';
    }
}

struct init_config {
    const char *value[F_COUNT];
    bool from_env[F_COUNT];
    enum ipv6_mode ipv6;
    bool dry_run;
    bool cleanup;
    enum weir_log_format log_format;
};

/* ---- options ------------------------------------------------------------- */

/* "exclude-inbound-ports" -> "WEIR_EXCLUDE_INBOUND_PORTS" */
static void env_name(const char *flag, char *buf, size_t len)
{
    size_t n = (size_t)snprintf(buf, len, "WEIR_");
    for (const char *c = flag; *c && n + 1 < len; c++)
        buf[n++] = *c == '-' ? '_' : (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
    buf[n] = '\0';
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: weir-init [flags]\n\n"
            "Writes the iptables rules that send a pod's TCP traffic through its sidecar.\n"
            "Every flag can also be given as an environment variable: --exclude-inbound-ports\n"
            "is WEIR_EXCLUDE_INBOUND_PORTS. A flag wins over its variable.\n\n");
    for (int i = 0; i < F_COUNT; i++) {
        char opt[64];
        snprintf(opt, sizeof(opt), "--%s%s", flags[i].name, flags[i].has_value ? " VALUE" : "");
        char def[32];
        default_text(i, def, sizeof(def));
        if (def[0])
            fprintf(out, "  %-32s %s (default %s)\n", opt, flags[i].help, def);
        else
            fprintf(out, "  %-32s %s\n", opt, flags[i].help);
    }
    fprintf(out, "  %-32s %s\n  %-32s %s\n\n", "--help", "show this help", "--version",
            "print the version");
    fprintf(out, "Exit status: 0 done, 1 rules not applied, 2 usage error.\n");
}

static int set_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int set_error(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -1;
}

static int parse_bool(const char *text, bool *out)
{
    static const char *const yes[] = {"1", "true", "yes", "on"};
    static const char *const no[] = {"", "0", "false", "no", "off"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (strcmp(text, yes[i]) == 0)
            return *out = true, 0;
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (strcmp(text, no[i]) == 0)
            return *out = false, 0;
    return -1;
}

/* Where a value came from, for an error message that points at the right place. */
static void describe_source(const struct init_config *cfg, int id, char *buf, size_t len)
{
    if (cfg->from_env[id]) {
        char env[64];
        env_name(flags[id].name, env, sizeof(env));
        snprintf(buf, len, "%s", env);
    } else {
        snprintf(buf, len, "--%s", flags[id].name);
    }
}

/* Values that only the shell reads: the mode switches and the log format. */
static int parse_shell_values(struct init_config *cfg, char *err, size_t errlen)
{
    char src[64];
    const char *v;

    if ((v = cfg->value[F_IPV6])) {
        if (strcmp(v, "auto") == 0)
            cfg->ipv6 = IPV6_AUTO;
        else if (strcmp(v, "on") == 0 || strcmp(v, "true") == 0)
            cfg->ipv6 = IPV6_ON;
        else if (strcmp(v, "off") == 0 || strcmp(v, "false") == 0)
            cfg->ipv6 = IPV6_OFF;
        else {
            describe_source(cfg, F_IPV6, src, sizeof(src));
            return set_error(err, errlen, "%s: expected auto, on or off, got \"%.64s\"", src, v);
        }
    }
    if ((v = cfg->value[F_LOG_FORMAT]) && weir_log_parse_format(v, &cfg->log_format) != 0) {
        describe_source(cfg, F_LOG_FORMAT, src, sizeof(src));
        return set_error(err, errlen, "%s: expected json or text, got \"%.64s\"", src, v);
    }
    const int switches[] = {F_DRY_RUN, F_CLEANUP};
    bool *targets[] = {&cfg->dry_run, &cfg->cleanup};
    for (size_t i = 0; i < 2; i++) {
        v = cfg->value[switches[i]];
        if (v && parse_bool(v, targets[i]) != 0) {
            describe_source(cfg, switches[i], src, sizeof(src));
            return set_error(err, errlen, "%s: expected true or false, got \"%.64s\"", src, v);
        }
    }
    return 0;
}

/* Returns 0, 1 after --help/--version, or -1 with err set for a usage error. */
static int parse_args(int argc, char **argv, struct init_config *cfg, char *err, size_t errlen)
{
    struct option longopts[F_COUNT + 3];
    char env[64];

    memset(cfg, 0, sizeof(*cfg));
    cfg->ipv6 = IPV6_AUTO;
    cfg->log_format = WEIR_LOG_TEXT;

    for (int i = 0; i < F_COUNT; i++) {
        env_name(flags[i].name, env, sizeof(env));
        const char *v = getenv(env);
        if (v) {
            cfg->value[i] = v;
            cfg->from_env[i] = true;
        }
        longopts[i] =
            (struct option){flags[i].name, flags[i].has_value ? required_argument : no_argument,
                            NULL, OPT_BASE + i};
    }
    longopts[F_COUNT] = (struct option){"help", no_argument, NULL, OPT_BASE + F_HELP};
    longopts[F_COUNT + 1] = (struct option){"version", no_argument, NULL, OPT_BASE + F_VERSION};
    longopts[F_COUNT + 2] = (struct option){NULL, 0, NULL, 0};

    opterr = 0;
    for (;;) {
        int longindex = -1;
        int c = getopt_long(argc, argv, ":h", longopts, &longindex);
        if (c == -1)
            break;
        if (c == 'h' || c == OPT_BASE + F_HELP) {
            usage(stdout);
            return 1;
        }
        if (c == OPT_BASE + F_VERSION) {
            printf("weir-init %s\n", WEIR_VERSION);
            return 1;
        }
        if (c == ':')
            return set_error(err, errlen, "%s: missing value", argv[optind - 1]);
        /* glibc reports "--dry-run=x" on a flag without a value through optopt. */
        if (c == '?' && optopt >= OPT_BASE && optopt < OPT_BASE + F_COUNT) {
            env_name(flags[optopt - OPT_BASE].name, env, sizeof(env));
            return set_error(err, errlen, "--%s takes no value (or set %s=true|false)",
                             flags[optopt - OPT_BASE].name, env);
        }
        if (c == '?')
            return set_error(err, errlen, "unknown flag %.64s (see weir-init --help)",
                             argv[optind - 1]);
        if (c >= OPT_BASE && c < OPT_BASE + F_COUNT) {
            int id = c - OPT_BASE;
            /* A switch given on the command line is on, whatever the environment says. */
            cfg->value[id] = flags[id].has_value ? optarg : "true";
            cfg->from_env[id] = false;
        }
    }
    if (optind < argc)
        return set_error(err, errlen, "unexpected argument \"%.64s\" (see weir-init --help)",
                         argv[optind]);
    return parse_shell_values(cfg, err, errlen);
}

/* The builder names the flag; when the value came from the environment, say so. */
static void explain_spec_error(const struct init_config *cfg, char *err, size_t errlen)
{
    for (int i = 0; i < F_COUNT; i++) {
        char prefix[64];
        snprintf(prefix, sizeof(prefix), "--%s:", flags[i].name);
        if (cfg->from_env[i] && strncmp(err, prefix, strlen(prefix)) == 0) {
            char env[64];
            size_t n = strlen(err);
            env_name(flags[i].name, env, sizeof(env));
            snprintf(err + n, errlen - n, " (from %s)", env);
            return;
        }
    }
}

static void to_options(const struct init_config *cfg, struct weir_iptables_options *o)
{
    *o = (struct weir_iptables_options){
        .proxy_port = cfg->value[F_PROXY_PORT],
        .inbound_capture_port = cfg->value[F_INBOUND_CAPTURE_PORT],
        .proxy_uid = cfg->value[F_PROXY_UID],
        .proxy_gid = cfg->value[F_PROXY_GID],
        .include_outbound_ranges = cfg->value[F_INCLUDE_OUTBOUND_RANGES],
        .exclude_outbound_ranges = cfg->value[F_EXCLUDE_OUTBOUND_RANGES],
        .include_inbound_ports = cfg->value[F_INCLUDE_INBOUND_PORTS],
        .exclude_inbound_ports = cfg->value[F_EXCLUDE_INBOUND_PORTS],
        .exclude_outbound_ports = cfg->value[F_EXCLUDE_OUTBOUND_PORTS],
    };
}

/* ---- environment probes -------------------------------------------------- */

/* A pod has IPv6 when an interface other than lo carries a non-link-local
 * IPv6 address: link-local addresses appear on every interface by default and
 * say nothing about the pod network. */
static bool pod_has_ipv6(void)
{
    struct ifaddrs *list;
    bool found = false;

    if (getifaddrs(&list) != 0) {
        weir_logf(WEIR_LOG_WARN, "cannot list interface addresses (%s); assuming no IPv6",
                  strerror(errno));
        return false;
    }
    for (struct ifaddrs *ifa = list; ifa && !found; ifa = ifa->ifa_next) {
        if (!ifa->ifa_addr || ifa->ifa_addr->sa_family != AF_INET6 ||
            (ifa->ifa_flags & IFF_LOOPBACK))
            continue;
        const struct in6_addr *a = &((const struct sockaddr_in6 *)(void *)ifa->ifa_addr)->sin6_addr;
        if (!IN6_IS_ADDR_LINKLOCAL(a) && !IN6_IS_ADDR_LOOPBACK(a))
            found = true;
    }
    freeifaddrs(list);
    return found;
}

/* Checked up front because the legacy backend reports a missing capability as
 * "unable to initialize table 'nat'", which sends people hunting for kernel
 * modules. */
static bool have_net_admin(void)
{
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];

    memset(data, 0, sizeof(data));
    if (syscall(SYS_capget, &hdr, data) != 0)
        return true; /* cannot tell: let iptables decide and report */
    return (data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective & CAP_TO_MASK(CAP_NET_ADMIN)) != 0;
}

static bool is_permission_error(const char *text)
{
    return text && (strstr(text, "Permission denied") || strstr(text, "you must be root") ||
                    strstr(text, "Operation not permitted"));
}

/* ---- running iptables-save / iptables-restore ---------------------------- */

struct tool_result {
    int status;     /* exit status; 128+N when killed by signal N; -1 when it never ran */
    int exec_errno; /* set when the program could not be started */
    bool timed_out;
    bool out_too_big;
    char *out; /* stdout, NUL terminated */
    char *err; /* stderr, NUL terminated, cut at TOOL_STDERR_MAX */
};

static void tool_result_free(struct tool_result *r)
{
    free(r->out);
    free(r->err);
}

struct capture {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    bool over;
};

static int capture_init(struct capture *c, size_t max)
{
    c->cap = 4096;
    c->len = 0;
    c->max = max;
    c->over = false;
    c->data = malloc(c->cap);
    if (!c->data)
        return -1;
    c->data[0] = '\0';
    return 0;
}

/* Reads what is available; returns false at end of stream. */
static bool capture_read(struct capture *c, int fd)
{
    char chunk[4096];
    ssize_t n = read(fd, chunk, sizeof(chunk));
    if (n < 0)
        return errno == EINTR || errno == EAGAIN;
    if (n == 0)
        return false;
    size_t take = (size_t)n;
    if (c->len + take > c->max) {
        take = c->max - c->len;
        c->over = true;
    }
    if (c->len + take + 1 > c->cap) {
        size_t cap = c->cap;
        while (cap < c->len + take + 1)
            cap *= 2;
        char *p = realloc(c->data, cap);
        if (!p) {
            c->over = true;
            return true;
        }
        c->data = p;
        c->cap = cap;
    }
    memcpy(c->data + c->len, chunk, take);
    c->len += take;
    c->data[c->len] = '\0';
    return true;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

/* Runs argv (looked up in PATH, no shell) with `input` on its stdin and
 * collects stdout and stderr. Returns 0 when the tool ran to completion
 * (whatever its status), -1 when it could not be run or timed out. */
static int run_tool(char *const argv[], const char *input, struct tool_result *r)
{
    int in[2] = {-1, -1}, out[2] = {-1, -1}, errp[2] = {-1, -1}, exec_pipe[2] = {-1, -1};
    struct capture cout, cerr;
    size_t input_len = input ? strlen(input) : 0, written = 0;
    pid_t pid;
    int rc = -1;

    memset(r, 0, sizeof(*r));
    r->status = -1;
    if (capture_init(&cout, TOOL_STDOUT_MAX) != 0)
        return -1;
    if (capture_init(&cerr, TOOL_STDERR_MAX) != 0) {
        free(cout.data);
        return -1;
    }
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(errp, O_CLOEXEC) ||
        pipe2(exec_pipe, O_CLOEXEC)) {
        r->exec_errno = errno;
        goto out;
    }

    pid = fork();
    if (pid < 0) {
        r->exec_errno = errno;
        goto out;
    }
    if (pid == 0) {
        int e;
        if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(errp[1], 2) < 0)
            _exit(127);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        /* exec_pipe is close-on-exec: the parent reads EOF when exec worked,
         * the errno when it did not. */
        e = errno;
        if (write(exec_pipe[1], &e, sizeof(e)) < 0)
            _exit(127);
        _exit(127);
    }
    close_fd(&in[0]);
    close_fd(&out[1]);
    close_fd(&errp[1]);
    close_fd(&exec_pipe[1]);
    fcntl(in[1], F_SETFL, O_NONBLOCK);
    if (input_len == 0)
        close_fd(&in[1]);

    long long deadline = now_ms() + TOOL_TIMEOUT_MS;
    while (out[0] >= 0 || errp[0] >= 0) {
        struct pollfd pfd[3];
        int nfd = 0, iw = -1, io = -1, ie = -1;
        if (in[1] >= 0) {
            pfd[nfd] = (struct pollfd){.fd = in[1], .events = POLLOUT};
            iw = nfd++;
        }
        if (out[0] >= 0) {
            pfd[nfd] = (struct pollfd){.fd = out[0], .events = POLLIN};
            io = nfd++;
        }
        if (errp[0] >= 0) {
            pfd[nfd] = (struct pollfd){.fd = errp[0], .events = POLLIN};
            ie = nfd++;
        }
        long long left = deadline - now_ms();
        if (left <= 0) {
            r->timed_out = true;
            kill(pid, SIGKILL);
            break;
        }
        int n = poll(pfd, (nfds_t)nfd, (int)left);
        if (n < 0 && errno != EINTR)
            break;
        if (n <= 0)
            continue;
        if (iw >= 0 && pfd[iw].revents) {
            ssize_t w = write(in[1], input + written, input_len - written);
            if (w > 0)
                written += (size_t)w;
            /* EPIPE: the tool stopped reading; its stderr says why. */
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || written == input_len)
                close_fd(&in[1]);
        }
        if (io >= 0 && pfd[io].revents && !capture_read(&cout, out[0]))
            close_fd(&out[0]);
        if (ie >= 0 && pfd[ie].revents && !capture_read(&cerr, errp[0]))
            close_fd(&errp[0]);
    }
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&errp[0]);

    int status;
    pid_t waited;
    while ((waited = waitpid(pid, &status, 0)) < 0 && errno == EINTR)
        ;
    if (waited == pid && WIFEXITED(status))
        r->status = WEXITSTATUS(status);
    else if (waited == pid && WIFSIGNALED(status))
        r->status = 128 + WTERMSIG(status);
    int e = 0;
    if (read(exec_pipe[0], &e, sizeof(e)) == (ssize_t)sizeof(e)) {
        r->exec_errno = e;
        r->status = -1;
    }
    r->out_too_big = cout.over;
    rc = (r->timed_out || r->status < 0) ? -1 : 0;

out:
    close_fd(&in[0]);
    close_fd(&in[1]);
    close_fd(&out[0]);
    close_fd(&out[1]);
    close_fd(&errp[0]);
    close_fd(&errp[1]);
    close_fd(&exec_pipe[0]);
    close_fd(&exec_pipe[1]);
    r->out = cout.data;
    r->err = cerr.data;
    return rc;
}

/* Logs why a tool failed; returns the exit status weir-init should end with. */
static int report_tool_failure(const char *tool, const struct tool_result *r, const char *rules)
{
    char status[32];

    if (r->exec_errno) {
        weir_log(WEIR_LOG_ERROR, "cannot run iptables tool", "tool", tool, "error",
                 strerror(r->exec_errno), NULL);
        return EXIT_APPLY;
    }
    if (r->timed_out) {
        weir_log(WEIR_LOG_ERROR, "iptables tool did not finish in time (xtables lock held?)",
                 "tool", tool, NULL);
        return EXIT_APPLY;
    }
    if (is_permission_error(r->err)) {
        weir_log(WEIR_LOG_ERROR, CAP_MESSAGE, "tool", tool, "stderr", r->err, NULL);
        return EXIT_APPLY;
    }
    snprintf(status, sizeof(status), "%d", r->status);
    weir_log(WEIR_LOG_ERROR, "iptables tool failed", "tool", tool, "status", status, "stderr",
             r->err, "input", rules, NULL);
    return EXIT_APPLY;
}

static size_t count_rules(const char *text)
{
    size_t n = 0;
    for (const char *p = text; p && *p;) {
        if (p[0] == '-' && (p[1] == 'A' || p[1] == 'D' || p[1] == 'X'))
            n++;
        const char *nl = strchr(p, '\n');
        p = nl ? nl + 1 : NULL;
    }
    return n;
}

/* Applies (or cleans up) one family. `optional`: a family that may be absent
 * from the kernel, so failing to read it is a warning, not an error. */
static int apply_family(const struct weir_iptables_spec *spec, enum weir_ip_family family,
                        bool cleanup, bool optional)
{
    const char *save_tool = family == WEIR_IPV6 ? "ip6tables-save" : "iptables-save";
    const char *restore_tool = family == WEIR_IPV6 ? "ip6tables-restore" : "iptables-restore";
    const char *fam = weir_ip_family_name(family);
    char *save_argv[] = {(char *)save_tool, "-t", "nat", NULL};
    char *restore_argv[] = {(char *)restore_tool, "--noflush", NULL};
    struct tool_result r;
    char *rules = NULL;
    char count[32];
    int rc = 0;

    /* The current rules are read only to find jumps a previous run left, so
     * that this run replaces them instead of adding a second set. */
    if (run_tool(save_argv, NULL, &r) != 0 || r.status != 0 || r.out_too_big) {
        if (optional && !is_permission_error(r.err)) {
            weir_log(WEIR_LOG_WARN, "skipping family: cannot read its rules", "family", fam, "tool",
                     save_tool, "stderr", r.err, NULL);
        } else if (r.out_too_big) {
            weir_log(WEIR_LOG_ERROR, "current rules too large to read", "tool", save_tool, NULL);
            rc = EXIT_APPLY;
        } else {
            rc = report_tool_failure(save_tool, &r, NULL);
        }
        tool_result_free(&r);
        return rc;
    }
    int built = cleanup ? weir_iptables_render_cleanup(family, r.out, &rules)
                        : weir_iptables_render(spec, family, r.out, &rules);
    tool_result_free(&r);
    if (built != 0) {
        weir_log(WEIR_LOG_ERROR, "cannot build the rules (out of memory or too large)", "family",
                 fam, NULL);
        return EXIT_APPLY;
    }
    if (rules[0] == '\0') {
        weir_log(WEIR_LOG_INFO, "nothing to clean up", "family", fam, NULL);
        free(rules);
        return 0;
    }

    if (run_tool(restore_argv, rules, &r) != 0 || r.status != 0) {
        rc = report_tool_failure(restore_tool, &r, rules);
    } else {
        snprintf(count, sizeof(count), "%zu", count_rules(rules));
        weir_log(WEIR_LOG_INFO, cleanup ? "capture rules removed" : "capture rules applied",
                 "family", fam, "tool", restore_tool, "changes", count, NULL);
    }
    tool_result_free(&r);
    free(rules);
    return rc;
}

static int dry_run(const struct weir_iptables_spec *spec, const enum weir_ip_family *fams,
                   size_t nfams, bool cleanup)
{
    for (size_t i = 0; i < nfams; i++) {
        char *rules = NULL;
        int built = cleanup ? weir_iptables_render_cleanup(fams[i], NULL, &rules)
                            : weir_iptables_render(spec, fams[i], NULL, &rules);
        if (built != 0) {
            weir_log(WEIR_LOG_ERROR, "cannot build the rules (out of memory or too large)", NULL);
            return EXIT_APPLY;
        }
        printf("# %s: %s --noflush\n%s", weir_ip_family_name(fams[i]),
               fams[i] == WEIR_IPV6 ? "ip6tables-restore" : "iptables-restore", rules);
        free(rules);
    }
    return fflush(stdout) == 0 ? 0 : EXIT_APPLY;
}

static const char *or_default(const char *value, const char *def)
{
    return value ? value : def;
}

/* Logged before anything changes, so `kubectl logs` of the init container
 * shows what was asked for even when applying fails. */
static void log_config(const struct init_config *cfg, const struct weir_iptables_spec *spec,
                       const char *families)
{
    char proxy_port[8], inbound_port[8], uid[16], gid[16];
    snprintf(proxy_port, sizeof(proxy_port), "%u", (unsigned)spec->proxy_port);
    snprintf(inbound_port, sizeof(inbound_port), "%u", (unsigned)spec->inbound_capture_port);
    snprintf(uid, sizeof(uid), "%lu", (unsigned long)spec->proxy_uid);
    snprintf(gid, sizeof(gid), "%lu", (unsigned long)spec->proxy_gid);
    if (cfg->cleanup) {
        weir_log(WEIR_LOG_INFO, "removing capture rules", "families", families, NULL);
        return;
    }
    weir_log(WEIR_LOG_INFO, "writing capture rules", "families", families, "proxy-port", proxy_port,
             "inbound-capture-port", inbound_port, "proxy-uid", uid, "proxy-gid", gid,
             "include-outbound-ranges", or_default(cfg->value[F_INCLUDE_OUTBOUND_RANGES], "*"),
             "exclude-outbound-ranges", or_default(cfg->value[F_EXCLUDE_OUTBOUND_RANGES], ""),
             "include-inbound-ports", or_default(cfg->value[F_INCLUDE_INBOUND_PORTS], "*"),
             "exclude-inbound-ports", or_default(cfg->value[F_EXCLUDE_INBOUND_PORTS], ""),
             "exclude-outbound-ports", or_default(cfg->value[F_EXCLUDE_OUTBOUND_PORTS], ""), NULL);
}

int main(int argc, char **argv)
{
    struct init_config cfg;
    struct weir_iptables_options opts;
    struct weir_iptables_spec *spec = NULL;
    enum weir_ip_family fams[2] = {WEIR_IPV4, WEIR_IPV6};
    size_t nfams = 1;
    char err[WEIR_IPTABLES_ERR_MAX + 64];
    int rc;

    /* A tool that exits early must turn into an error status, not kill us. */
    signal(SIGPIPE, SIG_IGN);

    rc = parse_args(argc, argv, &cfg, err, sizeof(err));
    weir_log_setup("weir-init", cfg.log_format, WEIR_LOG_INFO, NULL);
    if (rc > 0)
        return 0;
    if (rc < 0) {
        weir_log(WEIR_LOG_ERROR, err, NULL);
        return EXIT_USAGE;
    }

    spec = malloc(sizeof(*spec));
    if (!spec) {
        weir_log(WEIR_LOG_ERROR, "out of memory", NULL);
        return EXIT_APPLY;
    }
    to_options(&cfg, &opts);
    if (weir_iptables_spec_parse(spec, &opts, err, WEIR_IPTABLES_ERR_MAX) != 0) {
        explain_spec_error(&cfg, err, sizeof(err));
        weir_log(WEIR_LOG_ERROR, err, NULL);
        free(spec);
        return EXIT_USAGE;
    }

    bool ipv6 = cfg.ipv6 == IPV6_ON || (cfg.ipv6 == IPV6_AUTO && pod_has_ipv6());
    /* Cleanup in auto mode also looks at IPv6: rules may outlive the address. */
    bool ipv6_optional = cfg.ipv6 == IPV6_AUTO && cfg.cleanup;
    if (ipv6 || (cfg.cleanup && cfg.ipv6 == IPV6_AUTO && !cfg.dry_run))
        nfams = 2;

    if (cfg.dry_run) {
        rc = dry_run(spec, fams, nfams, cfg.cleanup);
        free(spec);
        return rc;
    }

    log_config(&cfg, spec, nfams == 2 ? "ipv4,ipv6" : "ipv4");
    if (!have_net_admin()) {
        weir_log(WEIR_LOG_ERROR, CAP_MESSAGE, NULL);
        free(spec);
        return EXIT_APPLY;
    }
    rc = 0;
    for (size_t i = 0; i < nfams && rc == 0; i++)
        rc = apply_family(spec, fams[i], cfg.cleanup, fams[i] == WEIR_IPV6 && ipv6_optional);
    free(spec);
    return rc;
}
