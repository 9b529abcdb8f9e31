/*
 * guard.h - the address guard: which peer addresses the sender may connect
 * to. Checked at connect time on the address actually used, so DNS tricks
 * cannot bypass it.
 */
#ifndef SKW_DELIVER_GUARD_H
#define SKW_DELIVER_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define SKW_GUARD_MAX_ALLOW 32

struct skw_cidr {
	int family; /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	int prefix;
};

struct skw_guard {
	struct skw_cidr allow[SKW_GUARD_MAX_ALLOW]; /* --allow-net exemptions */
	size_t n_allow;
};

/* Parses "127.0.0.0/8", "::1/128" or a bare address into c. */
bool skw_cidr_parse(const char *s, struct skw_cidr *c);
/* Adds an exemption; SKW_EINVAL on a bad CIDR or when full. */
int skw_guard_allow(struct skw_guard *g, const char *cidr);
/* True when connecting to sa is refused: loopback, private, link-local,
 * CGNAT, multicast, broadcast, reserved, unspecified, and their IPv6 and
 * IPv4-embedded forms, unless an exemption covers the address. */
bool skw_guard_is_blocked(const struct skw_guard *g, const struct sockaddr *sa);

#endif
