/*
 * test_trust.c - the CA bundle the sender trusts with --ca-file: the
 * system's bundle, then the operator's file, in one memory file.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/err.h"
#include "deliver/trust.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f)) {
		fprintf(stderr, "cannot write %s\n", path);
		exit(1);
	}
}

/* The whole content of fd, read through its /proc path as libcurl would
 * (a new open file description, from the start). */
static char *read_proc_fd(int fd)
{
	static char buf[4096];
	char path[64];
	ssize_t n;
	int in;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	in = open(path, O_RDONLY);
	if (in < 0)
		return NULL;
	n = read(in, buf, sizeof(buf) - 1);
	close(in);
	if (n < 0)
		return NULL;
	buf[n] = '\0';
	return buf;
}

static void test_bundle(void)
{
	char dir[] = "/tmp/skw-trust-XXXXXX";
	char sys[128], extra[128], missing[128];
	int fd = -1;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(sys, sizeof(sys), "%s/system.pem", dir);
	snprintf(extra, sizeof(extra), "%s/extra.pem", dir);
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	/* the system bundle's last line has no newline: the two must not glue */
	write_file(sys, "-----BEGIN CERTIFICATE-----\nSYS\n-----END CERTIFICATE-----");
	write_file(extra, "-----BEGIN CERTIFICATE-----\nOPS\n-----END CERTIFICATE-----\n");

	CHECK(skw_trust_bundle(sys, extra, &fd) == 0);
	CHECK(fd >= 0);
	CHECK_STR(read_proc_fd(fd),
		  "-----BEGIN CERTIFICATE-----\nSYS\n-----END CERTIFICATE-----\n"
		  "-----BEGIN CERTIFICATE-----\nOPS\n-----END CERTIFICATE-----\n");
	/* read twice: each reader starts at the beginning */
	CHECK(read_proc_fd(fd) && strstr(read_proc_fd(fd), "SYS") != NULL);
	CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	close(fd);

	/* a file that cannot be read: an error, no descriptor */
	fd = -1;
	CHECK(skw_trust_bundle(sys, missing, &fd) == SKW_EIO && fd == -1);
	CHECK(skw_trust_bundle(missing, extra, &fd) == SKW_EIO && fd == -1);

	unlink(sys);
	unlink(extra);
	rmdir(dir);
}

int main(void)
{
	test_bundle();
	return CHECK_DONE();
}
