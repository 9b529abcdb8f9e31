/*
 * trust.h - the certificate authorities the sender trusts (trust.c).
 */
#ifndef SKW_DELIVER_TRUST_H
#define SKW_DELIVER_TRUST_H

/* Writes the file bundle, a newline, then the file extra into a new
 * anonymous memory file (close-on-exec) and sets *fd to it; the caller
 * closes it. SKW_EIO when a file cannot be read or the memory file made
 * (*fd untouched). */
int skw_trust_bundle(const char *bundle, const char *extra, int *fd);

#endif
