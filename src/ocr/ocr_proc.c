/* ocr_proc.c - child processes with a deadline (see ocr_proc.h).
 *
 * One poll loop moves bytes both ways so a child that writes before reading
 * all its input cannot deadlock us. The child gets its own process group so
 * a shell-script plugin's grandchildren die with it on timeout.
 */
#include "ocr/ocr_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"

#define STDERR_TAIL 400

typedef struct {
    char *buf;
    size_t len, cap, max;
    int overflow;
} sink;

/* Appends up to what `max` allows; past it only remembers the overflow. */
static int sink_read(sink *s, int fd) {
    char tmp[65536];
    ssize_t n = read(fd, tmp, sizeof tmp);
    if (n < 0) return (errno == EINTR || errno == EAGAIN) ? 1 : 0;
    if (n == 0) return 0;
    size_t keep = (size_t)n;
    if (s->len + keep > s->max) { keep = s->max - s->len; s->overflow = 1; }
    if (s->len + keep + 1 > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + keep + 1) cap *= 2;
        char *nb = realloc(s->buf, cap);
        if (!nb) { s->overflow = 1; return 1; }
        s->buf = nb; s->cap = cap;
    }
    memcpy(s->buf + s->len, tmp, keep);
    s->len += keep;
    s->buf[s->len] = 0;
    return 1;
}

/* Child side after fork: wire the pipes to fds 0/1/2 and run. Only
 * async-signal-safe calls before exec; child_fn mode runs plugin code in a
 * copy of us, which is the point (the parent stays clean). */
static void child_main(const ocr_proc_spec *spec, int in_fd, int out_fd, int err_fd) {
    setpgid(0, 0);
    if (dup2(in_fd, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0) _exit(126);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (spec->exec_path) {
        closefrom(3);
        char *argv[] = {(char *)spec->exec_path, NULL};
        execv(spec->exec_path, argv);
        _exit(127);
    }
    /* A crash handler inherited from the parent (a sanitizer's, a server's)
     * would turn a plugin's crash into some exit status; die plainly so the
     * parent can say "crashed (signal N)". */
    static const int fatal[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++) signal(fatal[i], SIG_DFL);
    int rc = spec->child_fn(spec->child_arg);
    _exit(rc & 0xff);
}

static void describe_status(const ocr_proc_spec *spec, int status, const sink *errs, qvl_error *err) {
    /* Last line-ish of stderr, without trailing newlines, for the message. */
    const char *tail = "";
    size_t tl = errs->len;
    while (tl && (errs->buf[tl - 1] == '\n' || errs->buf[tl - 1] == '\r')) tl--;
    if (tl) tail = errs->buf + (tl > STDERR_TAIL ? tl - STDERR_TAIL : 0);
    int tlen = (int)(errs->buf + tl - tail);
    if (WIFSIGNALED(status))
        qvl_fail(err, "%s crashed (signal %d, %s)%s%.*s", spec->name, WTERMSIG(status),
                 strsignal(WTERMSIG(status)), tlen ? ": " : "", tlen, tail);
    else if (WEXITSTATUS(status) == 127 && spec->exec_path)
        qvl_fail(err, "%s: cannot execute %s", spec->name, spec->exec_path);
    else
        qvl_fail(err, "%s exited with status %d%s%.*s", spec->name, WEXITSTATUS(status),
                 tlen ? ": " : "", tlen, tail);
}

static void kill_child(pid_t pid) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
}

char *ocr_proc_run(const ocr_proc_spec *spec, size_t *out_len, qvl_error *err) {
    int pin[2], pout[2], perr[2];
    if (pipe2(pin, O_CLOEXEC) < 0) { qvl_fail(err, "%s: pipe: %s", spec->name, strerror(errno)); return NULL; }
    if (pipe2(pout, O_CLOEXEC) < 0) {
        close(pin[0]); close(pin[1]);
        qvl_fail(err, "%s: pipe: %s", spec->name, strerror(errno)); return NULL;
    }
    if (pipe2(perr, O_CLOEXEC) < 0) {
        close(pin[0]); close(pin[1]); close(pout[0]); close(pout[1]);
        qvl_fail(err, "%s: pipe: %s", spec->name, strerror(errno)); return NULL;
    }
    /* Writing to a child that exited raises SIGPIPE; block it in this thread
     * and swallow any we caused, so the process never dies of it. */
    sigset_t pipe_set, old_mask;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old_mask);

    pid_t pid = fork();
    if (pid == 0) child_main(spec, pin[0], pout[1], perr[1]);
    close(pin[0]); close(pout[1]); close(perr[1]);
    if (pid < 0) {
        close(pin[1]); close(pout[0]); close(perr[0]);
        pthread_sigmask(SIG_SETMASK, &old_mask, NULL);
        qvl_fail(err, "%s: fork: %s", spec->name, strerror(errno));
        return NULL;
    }
    setpgid(pid, pid);   /* also done by the child: whichever runs first wins the race */
    fcntl(pin[1], F_SETFL, O_NONBLOCK);

    sink outs = {.max = spec->max_out}, errs = {.max = 64 * 1024};
    size_t sent = 0;
    int in_fd = spec->in_len ? pin[1] : -1;
    if (in_fd < 0) close(pin[1]);
    int out_open = 1, err_open = 1, timed_out = 0;
    double deadline = clock_ms() + spec->timeout_ms;
    while ((out_open || err_open) && !outs.overflow) {
        int64_t left = (int64_t)(deadline - clock_ms());
        if (left <= 0) { timed_out = 1; break; }
        struct pollfd pf[3];
        int n = 0, iw = -1, io = -1, ie = -1;
        if (in_fd >= 0) { iw = n; pf[n++] = (struct pollfd){.fd = in_fd, .events = POLLOUT}; }
        if (out_open) { io = n; pf[n++] = (struct pollfd){.fd = pout[0], .events = POLLIN}; }
        if (err_open) { ie = n; pf[n++] = (struct pollfd){.fd = perr[0], .events = POLLIN}; }
        int r = poll(pf, (nfds_t)n, (int)(left > 1000 ? 1000 : left));
        if (r < 0 && errno != EINTR) break;
        if (r <= 0) continue;
        if (iw >= 0 && pf[iw].revents) {
            ssize_t w = (pf[iw].revents & POLLOUT) ? write(in_fd, spec->in + sent, spec->in_len - sent) : -1;
            if (w > 0) sent += (size_t)w;
            /* A child that stops reading early (EPIPE) just gets no more input. */
            if ((w < 0 && errno != EAGAIN && errno != EINTR) || sent == spec->in_len) {
                close(in_fd); in_fd = -1;
            }
        }
        if (io >= 0 && pf[io].revents) out_open = sink_read(&outs, pout[0]);
        if (ie >= 0 && pf[ie].revents) {
            err_open = sink_read(&errs, perr[0]);
            if (errs.overflow) {   /* keep only the tail of a chatty stderr */
                memmove(errs.buf, errs.buf + errs.len - STDERR_TAIL, STDERR_TAIL);
                errs.len = STDERR_TAIL; errs.overflow = 0;
                errs.buf[errs.len] = 0;
            }
        }
    }
    if (in_fd >= 0) close(in_fd);
    close(pout[0]); close(perr[0]);

    /* Outputs closed: the child should be exiting; it still has to make the deadline. */
    int status = 0;
    pid_t w = 0;
    while (!timed_out && !outs.overflow && (w = waitpid(pid, &status, WNOHANG)) == 0) {
        if (clock_ms() >= deadline) { timed_out = 1; break; }
        struct timespec nap = {0, 2 * 1000 * 1000};
        nanosleep(&nap, NULL);
    }
    if (timed_out || outs.overflow || w < 0) {
        kill_child(pid);
        waitpid(pid, &status, 0);
    }
    struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) > 0) {}
    pthread_sigmask(SIG_SETMASK, &old_mask, NULL);

    char *ret = NULL;
    if (timed_out)
        qvl_fail(err, "%s timed out after %d ms (killed)", spec->name, spec->timeout_ms);
    else if (outs.overflow)
        qvl_fail(err, "%s wrote more than %zu bytes of output (killed)", spec->name, spec->max_out);
    else if (w < 0)
        qvl_fail(err, "%s: waitpid: %s", spec->name, strerror(errno));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        describe_status(spec, status, &errs, err);
    else {
        ret = outs.buf ? outs.buf : calloc(1, 1);
        outs.buf = NULL;
        if (!ret) qvl_fail_code(err, QVL_E_NOMEM, "%s: out of memory", spec->name);
        else if (out_len) *out_len = outs.len;
    }
    free(outs.buf);
    free(errs.buf);
    return ret;
}
