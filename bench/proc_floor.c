/* The kernel's share of a volatile collection: reads the /proc files vestige's volatile spec
 * reads (per process: stat, status, cmdline, environ, cgroup, the mappings; the exe, cwd, root and
 * namespace links; every descriptor's link and fdinfo; the task list; then the socket tables)
 * on N threads, and throws the bytes away. No parsing, no JSON, no hashing, no compression:
 * what any /proc collector pays before doing anything with the data. The mappings are read as
 * vestige reads them: with the PROCMAP_QUERY ioctl of /proc/PID/maps where the kernel has it
 * (Linux 6.11+; each mapping's numbers and name, no text to render), else as the maps text.
 *
 *   cc -O2 -pthread -o proc_floor bench/proc_floor.c && ./proc_floor [THREADS]
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_PIDS (1 << 22)
#define BUF (1 << 20)

static int *pids;
static int npids, nthreads = 2;
static long long bytes[64];

static void read_file(int dir, const char *name, char *buf, int t) {
    int fd = openat(dir, name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    ssize_t n;
    while ((n = read(fd, buf, BUF)) > 0) bytes[t] += n;
    close(fd);
}

static void read_link(int dir, const char *name, char *buf, int t) {
    ssize_t n = readlinkat(dir, name, buf, 4096);
    if (n > 0) bytes[t] += n;
}

/* struct procmap_query and its ioctl number, from linux/fs.h (Linux 6.11+). */
struct procmap_query {
    uint64_t size, query_flags, query_addr, vma_start, vma_end, vma_flags, vma_page_size,
        vma_offset, inode;
    uint32_t dev_major, dev_minor, vma_name_size, build_id_size;
    uint64_t vma_name_addr, build_id_addr;
};
#define PROCMAP_QUERY 0xC0686611UL
#define COVERING_OR_NEXT_VMA 0x10

/* Every mapping of the process, with its name: through the ioctl, or the text without it. */
static void read_mappings(int dir, char *buf, int t) {
    int fd = openat(dir, "maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    uint64_t addr = 0;
    for (;;) {
        struct procmap_query q = {.size = sizeof q, .query_flags = COVERING_OR_NEXT_VMA,
                                  .query_addr = addr, .vma_name_size = 4096,
                                  .vma_name_addr = (uint64_t)(uintptr_t)buf};
        if (ioctl(fd, PROCMAP_QUERY, &q) < 0) {
            if (errno == ENOTTY || errno == EINVAL) {
                ssize_t n;
                while ((n = read(fd, buf, BUF)) > 0) bytes[t] += n;
            }
            break;
        }
        bytes[t] += 48 + q.vma_name_size;
        addr = q.vma_end;
    }
    close(fd);
}

/* Lists a directory below `dir`; reads each entry's link and/or file. */
static void walk(int dir, const char *name, char *buf, int t, int links, int files) {
    int fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    char ents[32768];
    long n;
    while ((n = syscall(SYS_getdents64, fd, ents, sizeof ents)) > 0) {
        for (long off = 0; off < n;) {
            struct dirent64 *d = (struct dirent64 *)(ents + off);
            off += d->d_reclen;
            if (d->d_name[0] == '.') continue;
            if (links) read_link(fd, d->d_name, buf, t);
            if (files) read_file(fd, d->d_name, buf, t);
        }
    }
    close(fd);
}

static void *worker(void *arg) {
    int t = (int)(long)arg;
    char *buf = malloc(BUF);
    char path[64];
    static const char *files[] = {"stat", "status", "cmdline", "environ", "cgroup"};
    static const char *links[] = {"exe", "cwd", "root", "ns/pid", "ns/net", "ns/mnt",
                                  "ns/user", "ns/uts", "ns/ipc", "ns/cgroup"};
    for (int i = t; i < npids; i += nthreads) {
        snprintf(path, sizeof path, "/proc/%d", pids[i]);
        int dir = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dir < 0) continue;
        for (size_t k = 0; k < sizeof files / sizeof *files; k++) read_file(dir, files[k], buf, t);
        read_mappings(dir, buf, t);
        for (size_t k = 0; k < sizeof links / sizeof *links; k++) read_link(dir, links[k], buf, t);
        walk(dir, "fd", buf, t, 1, 0);
        walk(dir, "fdinfo", buf, t, 0, 1);
        walk(dir, "task", buf, t, 0, 0);
        close(dir);
    }
    free(buf);
    return NULL;
}

int main(int argc, char **argv) {
    if (argc > 1) nthreads = atoi(argv[1]);
    if (nthreads < 1 || nthreads > 64) nthreads = 2;
    pids = malloc(sizeof *pids * MAX_PIDS);
    DIR *proc = opendir("/proc");
    struct dirent *e;
    while (proc && (e = readdir(proc)) && npids < MAX_PIDS)
        if (e->d_name[0] >= '0' && e->d_name[0] <= '9') pids[npids++] = atoi(e->d_name);
    if (proc) closedir(proc);
    pthread_t th[64];
    for (long t = 0; t < nthreads; t++) pthread_create(&th[t], NULL, worker, (void *)t);
    long long total = 0;
    for (int t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        total += bytes[t];
    }
    static const char *tables[] = {"/proc/net/tcp", "/proc/net/tcp6", "/proc/net/udp",
                                   "/proc/net/udp6", "/proc/net/raw", "/proc/net/raw6",
                                   "/proc/net/unix"};
    char *buf = malloc(BUF);
    for (size_t k = 0; k < sizeof tables / sizeof *tables; k++) {
        int fd = open(tables[k], O_RDONLY | O_CLOEXEC);
        ssize_t n;
        while (fd >= 0 && (n = read(fd, buf, BUF)) > 0) total += n;
        if (fd >= 0) close(fd);
    }
    fprintf(stderr, "%d processes, %lld bytes\n", npids, total);
    return 0;
}
