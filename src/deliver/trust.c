/*
 * trust.c - which certificate authorities the sender trusts, set up once so
 * that every TLS connection shares one certificate store.
 *
 * libcurl on Debian trusts a bundle file (/etc/ssl/certs/ca-certificates.crt)
 * and a directory (/etc/ssl/certs) by default. With a directory set, its
 * OpenSSL backend does not use its store cache (CURLOPT_CA_CACHE_TIMEOUT)
 * and parses the whole bundle into a new store for every connection: ~830
 * KiB and the CPU to read 145 certificates per TLS connection, so 2,000
 * requests open to slow HTTPS receivers took 1.7 GiB (docs/PERFORMANCE.md,
 * eleventh round). Trusting one file instead lets libcurl build the store
 * once and share it:
 *   - no --ca-file: libcurl's default bundle, no directory;
 *   - --ca-file: the default bundle followed by the file's certificates, in
 *     an anonymous memory file (memfd) written at start, so the operator's
 *     CAs are trusted besides the system's, as before. Both files are read
 *     once, at start: a restart picks up changes to either;
 *   - no default bundle (a libcurl built with a directory only), or one
 *     that cannot be read: libcurl's defaults, plus --ca-file, as before.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/err.h"
#include "../core/log.h"
#include "engine_impl.h"
#include "trust.h"

/* Appends the file at path to fd. SKW_EIO when either fails. */
static int append_file(int fd, const char *path)
{
	char buf[16384];
	ssize_t n;
	int in = open(path, O_RDONLY | O_CLOEXEC);
	int rc = 0;

	if (in < 0)
		return SKW_EIO;
	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = SKW_EIO;
			break;
		}
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, (size_t)(n - off));

			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				rc = SKW_EIO;
				goto out;
			}
			off += w;
		}
	}
out:
	close(in);
	return rc;
}

int skw_trust_bundle(const char *bundle, const char *extra, int *fd)
{
	int mfd = memfd_create("skw-ca", MFD_CLOEXEC);
	int rc;

	if (mfd < 0)
		return SKW_EIO;
	rc = append_file(mfd, bundle);
	/* a bundle that does not end its last line must not glue two PEMs */
	if (!rc && write(mfd, "\n", 1) != 1)
		rc = SKW_EIO;
	if (!rc)
		rc = append_file(mfd, extra);
	if (rc) {
		close(mfd);
		return rc;
	}
	*fd = mfd;
	return 0;
}

/* The default bundle and ca_file in one memory file; e->ca_path names it. */
static int combine(struct skw_engine *e, const char *bundle)
{
	int rc = skw_trust_bundle(bundle, e->cfg.ca_file, &e->ca_fd);

	if (rc)
		return rc;
	snprintf(e->ca_path, sizeof(e->ca_path), "/proc/self/fd/%d", e->ca_fd);
	return 0;
}

void skw_engine_trust_init(struct skw_engine *e)
{
	const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
	const char *bundle = v->cainfo;
	const char *extra = e->cfg.ca_file ? e->cfg.ca_file : "none";

	e->ca_fd = -1;
	e->is_capath_off = false;
	if (!bundle || access(bundle, R_OK)) {
		skw_info("deliver trust bundle=%s dir=%s extra=%s store=per-connection",
			 bundle ? bundle : "none", v->capath ? v->capath : "none", extra);
		return;
	}
	if (e->cfg.ca_file && combine(e, bundle)) {
		/* as before: the file, and the system's CAs from the directory */
		skw_warn("deliver trust could not combine bundle=%s extra=%s store=per-connection",
			 bundle, extra);
		return;
	}
	e->is_capath_off = true;
	skw_info("deliver trust bundle=%s extra=%s store=shared", bundle, extra);
}

void skw_engine_trust_free(struct skw_engine *e)
{
	if (e->ca_fd >= 0)
		close(e->ca_fd);
	e->ca_fd = -1;
}

CURLcode skw_engine_trust_apply(const struct skw_engine *e, CURL *h)
{
	/* the combined file, else --ca-file, else libcurl's default bundle */
	const char *cainfo = e->ca_fd >= 0 ? e->ca_path : e->cfg.ca_file;
	CURLcode cc = CURLE_OK;

	if (cainfo)
		cc = curl_easy_setopt(h, CURLOPT_CAINFO, cainfo);
	if (!cc && e->is_capath_off)
		cc = curl_easy_setopt(h, CURLOPT_CAPATH, NULL);
	return cc;
}
