/*
 * guard.c - the address guard (see guard.h).
 *
 * Decides, for the peer address a socket is about to connect to, whether
 * the sender may talk to it. Owns no state beyond the caller's struct
 * skw_guard, which is filled before the engine starts and only read after,
 * so checks may run on any thread without a lock.
 *
 * Order of the decision, on the address actually used:
 *   1. an --allow-net exemption covering the address lets it through (an
 *      IPv4 exemption also covers the IPv4-mapped ::ffff:a.b.c.d form, which
 *      reaches the very same host);
 *   2. IPv4: the special-purpose ranges in v4_blocked[];
 *   3. IPv6: ::, ::1, link-local, site-local, unique-local, multicast and
 *      documentation ranges; forms that carry an IPv4 address (mapped,
 *      compatible, NAT64, 6to4, Teredo) are judged by that IPv4 address.
 * Address families other than IPv4 and IPv6 are always refused.
 */
#include "guard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "../core/err.h"
#include "../core/util.h"

struct v4_range {
	uint32_t net;
	int prefix;
};

/* IANA IPv4 special-purpose ranges that must never be reached. */
static const struct v4_range v4_blocked[] = {
    {0x00000000u, 8},  /* 0.0.0.0/8 "this network" */
    {0x0a000000u, 8},  /* 10/8 private */
    {0x64400000u, 10}, /* 100.64/10 CGNAT */
    {0x7f000000u, 8},  /* 127/8 loopback */
    {0xa9fe0000u, 16}, /* 169.254/16 link-local (cloud metadata) */
    {0xac100000u, 12}, /* 172.16/12 private */
    {0xc0000000u, 24}, /* 192.0.0/24 IETF protocol assignments */
    {0xc0000200u, 24}, /* 192.0.2/24 TEST-NET-1 */
    {0xc0586300u, 24}, /* 192.88.99/24 6to4 relay anycast */
    {0xc0a80000u, 16}, /* 192.168/16 private */
    {0xc6120000u, 15}, /* 198.18/15 benchmarking */
    {0xc6336400u, 24}, /* 198.51.100/24 TEST-NET-2 */
    {0xcb007100u, 24}, /* 203.0.113/24 TEST-NET-3 */
    {0xe0000000u, 4},  /* 224/4 multicast */
    {0xf0000000u, 4},  /* 240/4 reserved, includes 255.255.255.255 */
};

static uint32_t v4_mask(int prefix)
{
	return prefix == 0 ? 0 : 0xffffffffu << (32 - prefix);
}

static uint32_t load_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static bool v4_is_blocked(uint32_t a)
{
	for (size_t i = 0; i < sizeof(v4_blocked) / sizeof(v4_blocked[0]); i++) {
		if ((a & v4_mask(v4_blocked[i].prefix)) == v4_blocked[i].net)
			return true;
	}
	return false;
}

/* True when the first prefix bits of a and b are equal. */
static bool prefix_eq(const unsigned char *a, const unsigned char *b, int prefix)
{
	int whole = prefix / 8;
	int rest = prefix % 8;

	if (whole && memcmp(a, b, (size_t)whole))
		return false;
	if (rest) {
		unsigned char m = (unsigned char)(0xff << (8 - rest));

		if ((a[whole] & m) != (b[whole] & m))
			return false;
	}
	return true;
}

static bool all_zero(const unsigned char *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		if (p[i])
			return false;
	}
	return true;
}

static bool v6_is_blocked(const unsigned char a[16])
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const unsigned char nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
	static const unsigned char nat64_local[6] = {0, 0x64, 0xff, 0x9b, 0, 1};
	unsigned char teredo_client[4];

	/* ::/128 and ::1/128 sit inside ::/96; 0.0.0.0/8 blocks them too,
	 * but say so explicitly. */
	if (all_zero(a, 15) && a[15] <= 1)
		return true;
	/* ::ffff:0:0/96 mapped and ::/96 compatible */
	if (!memcmp(a, mapped, 12) || all_zero(a, 12))
		return v4_is_blocked(load_be32(a + 12));
	/* 64:ff9b::/96 well-known NAT64 prefix */
	if (!memcmp(a, nat64, 12))
		return v4_is_blocked(load_be32(a + 12));
	/* 64:ff9b:1::/48 local-use NAT64 (RFC 8215), judged in its common
	 * /96 layout: the IPv4 address in the last 32 bits. */
	if (!memcmp(a, nat64_local, 6))
		return v4_is_blocked(load_be32(a + 12));
	/* 2002::/16 6to4: the IPv4 address in bits 16-47 */
	if (a[0] == 0x20 && a[1] == 0x02)
		return v4_is_blocked(load_be32(a + 2));
	/* 2001::/32 Teredo: server in bits 32-63, client obfuscated (inverted)
	 * in the last 32 bits; refuse when either is blocked. */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0 && a[3] == 0) {
		for (int i = 0; i < 4; i++)
			teredo_client[i] = (unsigned char)~a[12 + i];
		return v4_is_blocked(load_be32(a + 4)) || v4_is_blocked(load_be32(teredo_client));
	}
	/* 2001:db8::/32 documentation */
	if (a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8)
		return true;
	/* fe80::/10 link-local, fec0::/10 deprecated site-local */
	if (a[0] == 0xfe && (a[1] & 0xc0) >= 0x80)
		return true;
	/* fc00::/7 unique local */
	if ((a[0] & 0xfe) == 0xfc)
		return true;
	/* ff00::/8 multicast */
	if (a[0] == 0xff)
		return true;
	return false;
}

bool skw_cidr_parse(const char *s, struct skw_cidr *c)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash;
	size_t host_len;
	long long prefix;
	int max;

	if (!s)
		return false;
	slash = strchr(s, '/');
	host_len = slash ? (size_t)(slash - s) : strlen(s);
	if (host_len == 0 || host_len >= sizeof(host))
		return false;
	memcpy(host, s, host_len);
	host[host_len] = '\0';
	memset(c, 0, sizeof(*c));
	if (inet_pton(AF_INET, host, c->addr) == 1) {
		c->family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, host, c->addr) == 1) {
		c->family = AF_INET6;
		max = 128;
	} else {
		return false;
	}
	if (!slash) {
		c->prefix = max;
		return true;
	}
	if (slash[1] < '0' || slash[1] > '9' || !skw_parse_int(slash + 1, 0, max, &prefix))
		return false;
	c->prefix = (int)prefix;
	return true;
}

int skw_guard_allow(struct skw_guard *g, const char *cidr)
{
	struct skw_cidr c;

	if (g->n_allow >= SKW_GUARD_MAX_ALLOW || !skw_cidr_parse(cidr, &c))
		return SKW_EINVAL;
	g->allow[g->n_allow++] = c;
	return 0;
}

/* True when an exemption covers the address (family, 4 or 16 bytes). */
static bool is_allowed(const struct skw_guard *g, int family, const unsigned char *a)
{
	static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	bool is_mapped = family == AF_INET6 && !memcmp(a, mapped, 12);

	for (size_t i = 0; i < g->n_allow; i++) {
		const struct skw_cidr *c = &g->allow[i];

		if (c->family == family && prefix_eq(c->addr, a, c->prefix))
			return true;
		if (is_mapped && c->family == AF_INET && prefix_eq(c->addr, a + 12, c->prefix))
			return true;
	}
	return false;
}

bool skw_guard_is_blocked(const struct skw_guard *g, const struct sockaddr *sa)
{
	if (!sa)
		return true;
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
		const unsigned char *a = (const unsigned char *)&in->sin_addr;

		if (g && is_allowed(g, AF_INET, a))
			return false;
		return v4_is_blocked(load_be32(a));
	}
	if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
		const unsigned char *a = in6->sin6_addr.s6_addr;

		if (g && is_allowed(g, AF_INET6, a))
			return false;
		return v6_is_blocked(a);
	}
	return true;
}
