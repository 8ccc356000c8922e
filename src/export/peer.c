/*
 * peer.c: is a process the other end of a connection (see export.h)?
 *
 * The export runner lowers the CPU priority of its PostgreSQL backend, whose
 * PID it learns from pg_backend_pid(). That number is a PID in the
 * database's PID namespace, which need not be this process's (PostgreSQL on
 * another machine, or in another container of the same pod, with loopback
 * shared and PIDs not): renicing whatever holds that number here would hit
 * an unrelated process. So the runner renices only a process proven to hold
 * the other end of its own connection, and then both its nice value and,
 * when it has one of its own, its autogroup's (fs_export_renice).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#include "export.h"

bool fs_export_proc_net_addr(const struct sockaddr *sa, char *out, size_t out_len)
{
    int n;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        /* The kernel prints the address's 32 bits as stored (network order)
         * read as a host integer, and the port in host order. */
        n = snprintf(out, out_len, "%08" PRIX32 ":%04X", (uint32_t)in->sin_addr.s_addr,
                     (unsigned)ntohs(in->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)sa;
        uint32_t w[4];
        memcpy(w, in6->sin6_addr.s6_addr, sizeof(w));
        n = snprintf(out, out_len, "%08" PRIX32 "%08" PRIX32 "%08" PRIX32 "%08" PRIX32 ":%04X",
                     w[0], w[1], w[2], w[3], (unsigned)ntohs(in6->sin6_port));
    } else {
        return false;
    }
    return n > 0 && (size_t)n < out_len;
}

unsigned long fs_export_proc_net_inode(FILE *f, const char *local, const char *remote)
{
    char line[512];
    unsigned long found = 0;
    if (fgets(line, sizeof(line), f) == NULL) return 0; /* the header */
    while (found == 0 && fgets(line, sizeof(line), f) != NULL) {
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        char l[64], r[64];
        unsigned long inode;
        if (sscanf(line, " %*s %63s %63s %*s %*s %*s %*s %*s %*s %lu", l, r, &inode) != 3) continue;
        if (strcmp(l, local) == 0 && strcmp(r, remote) == 0) found = inode;
    }
    return found;
}

/* Whether /proc/<pid>/fd holds socket:[inode]. */
static bool holds_socket(pid_t pid, unsigned long inode, char *why, size_t why_len)
{
    char dir[64], want[64];
    snprintf(dir, sizeof(dir), "/proc/%ld/fd", (long)pid);
    snprintf(want, sizeof(want), "socket:[%lu]", inode);
    DIR *d = opendir(dir);
    if (d == NULL) {
        snprintf(why, why_len, "cannot read %s: %s", dir, strerror(errno));
        return false;
    }
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char path[384], target[64];
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        ssize_t n = readlink(path, target, sizeof(target) - 1);
        if (n <= 0) continue;
        target[n] = '\0';
        found = strcmp(target, want) == 0;
    }
    closedir(d);
    if (!found) snprintf(why, why_len, "process %ld does not hold the connection", (long)pid);
    return found;
}

/* The parent of pid, from /proc/<pid>/stat (0 when it cannot be read). */
static pid_t parent_of(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL) return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* pid (comm) state ppid: comm may hold spaces and parentheses. */
    char *p = strrchr(buf, ')');
    long ppid = 0;
    if (p == NULL || sscanf(p + 1, " %*c %ld", &ppid) != 1) return 0;
    return (pid_t)ppid;
}

bool fs_export_peer_is(int fd, pid_t pid, char *why, size_t why_len)
{
    if (pid <= 0) {
        snprintf(why, why_len, "no process %ld", (long)pid);
        return false;
    }
    struct sockaddr_storage mine, theirs;
    socklen_t ml = sizeof(mine), tl = sizeof(theirs);
    if (getsockname(fd, (struct sockaddr *)&mine, &ml) != 0 ||
        getpeername(fd, (struct sockaddr *)&theirs, &tl) != 0) {
        snprintf(why, why_len, "not a connected socket: %s", strerror(errno));
        return false;
    }
    if (mine.ss_family == AF_UNIX) {
        /* The peer's credentials are the listener's, the postmaster's (PID
         * translated into this namespace, 0 when it has none here); each
         * backend is its child. */
        struct ucred cred;
        socklen_t cl = sizeof(cred);
        if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) != 0 || cred.pid <= 0) {
            snprintf(why, why_len, "the Unix socket's peer is not a process here");
            return false;
        }
        if (parent_of(pid) != cred.pid) {
            snprintf(why, why_len, "process %ld is not a child of the peer %ld", (long)pid,
                     (long)cred.pid);
            return false;
        }
        return true;
    }
    char local[64], remote[64];
    if (!fs_export_proc_net_addr((struct sockaddr *)&theirs, local, sizeof(local)) ||
        !fs_export_proc_net_addr((struct sockaddr *)&mine, remote, sizeof(remote))) {
        snprintf(why, why_len, "neither TCP nor a Unix socket");
        return false;
    }
    /* The peer's end as this network namespace lists it: its local address
     * is our peer's, its remote ours. Absent when the peer is elsewhere. */
    const char *table = mine.ss_family == AF_INET ? "/proc/net/tcp" : "/proc/net/tcp6";
    FILE *f = fopen(table, "r");
    if (f == NULL) {
        snprintf(why, why_len, "cannot read %s: %s", table, strerror(errno));
        return false;
    }
    unsigned long inode = fs_export_proc_net_inode(f, local, remote);
    fclose(f);
    if (inode == 0) {
        snprintf(why, why_len, "the connection's other end is not on this machine");
        return false;
    }
    return holds_socket(pid, inode, why, why_len);
}

bool fs_export_renice(pid_t pid, int nice, char *why, size_t why_len)
{
    errno = 0;
    int now = getpriority(PRIO_PROCESS, (id_t)pid);
    if ((errno != 0 || now < nice) && setpriority(PRIO_PROCESS, (id_t)pid, nice) != 0) {
        snprintf(why, why_len, "setpriority: %s", strerror(errno));
        return false;
    }
    /* Under autogroup scheduling a nice value counts only against the
     * threads of the same autogroup (one per session), and PostgreSQL makes
     * each backend a session of its own (setsid): against the payment
     * path's backends, the backend yields by its autogroup's nice value.
     * Only a group that is the process's alone is changed: one it leads
     * (made by its setsid; a backend forks no children of its own). */
    if (getsid(pid) != pid) return true;
    char path[64];
    snprintf(path, sizeof(path), "/proc/%ld/autogroup", (long)pid);
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT) return true; /* a kernel without autogroups */
        snprintf(why, why_len, "%s: %s", path, strerror(errno));
        return false;
    }
    /* "/autogroup-123 nice 0" */
    char text[128];
    ssize_t n = read(fd, text, sizeof(text) - 1);
    int group = 0;
    bool ok = false;
    if (n > 0) {
        text[n] = '\0';
        const char *at = strstr(text, " nice ");
        ok = at != NULL && sscanf(at, " nice %d", &group) == 1;
    }
    if (!ok) {
        snprintf(why, why_len, "%s: unreadable", path);
    } else if (group < nice) {
        int len = snprintf(text, sizeof(text), "%d", nice);
        if (lseek(fd, 0, SEEK_SET) != 0 || write(fd, text, (size_t)len) != len) {
            snprintf(why, why_len, "%s: %s", path, strerror(errno));
            ok = false;
        }
    }
    close(fd);
    return ok;
}
