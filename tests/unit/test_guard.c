/*
 * test_guard.c - the address guard: every refused range (edges included),
 * the IPv6 forms that embed an IPv4 address, --allow-net exemptions, and
 * CIDR parsing.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "check.h"
#include "core/err.h"
#include "deliver/guard.h"

/* Builds a sockaddr for a literal address and asks the guard. */
static bool blocked_by(const struct skw_guard *g, const char *ip)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;

	memset(&in4, 0, sizeof(in4));
	memset(&in6, 0, sizeof(in6));
	if (inet_pton(AF_INET, ip, &in4.sin_addr) == 1) {
		in4.sin_family = AF_INET;
		in4.sin_port = htons(443);
		return skw_guard_is_blocked(g, (const struct sockaddr *)&in4);
	}
	if (inet_pton(AF_INET6, ip, &in6.sin6_addr) == 1) {
		in6.sin6_family = AF_INET6;
		in6.sin6_port = htons(443);
		return skw_guard_is_blocked(g, (const struct sockaddr *)&in6);
	}
	fprintf(stderr, "bad test address %s\n", ip);
	check_failures++;
	return false;
}

static bool blocked(const char *ip)
{
	struct skw_guard g = {0};

	return blocked_by(&g, ip);
}

#define CHECK_BLOCKED(ip)                                                                          \
	do {                                                                                       \
		if (!blocked(ip)) {                                                                \
			fprintf(stderr, "%s:%d: %s should be blocked\n", __FILE__, __LINE__, ip);  \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

#define CHECK_OPEN(ip)                                                                             \
	do {                                                                                       \
		if (blocked(ip)) {                                                                 \
			fprintf(stderr, "%s:%d: %s should be allowed\n", __FILE__, __LINE__, ip);  \
			check_failures++;                                                          \
		}                                                                                  \
	} while (0)

/* Each IPv4 range: first and last address inside, neighbours outside. */
static void test_v4_ranges(void)
{
	static const char *const inside[] = {
	    "0.0.0.0",	       "0.255.255.255",			     /* 0/8 */
	    "10.0.0.0",	       "10.255.255.255",		     /* 10/8 */
	    "100.64.0.0",      "100.127.255.255",		     /* 100.64/10 */
	    "127.0.0.1",       "127.255.255.255",		     /* 127/8 */
	    "169.254.0.0",     "169.254.169.254", "169.254.255.255", /* 169.254/16 */
	    "172.16.0.0",      "172.31.255.255",		     /* 172.16/12 */
	    "192.0.0.0",       "192.0.0.255",			     /* 192.0.0/24 */
	    "192.0.2.0",       "192.0.2.255",			     /* 192.0.2/24 */
	    "192.88.99.0",     "192.88.99.255",			     /* 192.88.99/24 */
	    "192.168.0.0",     "192.168.255.255",		     /* 192.168/16 */
	    "198.18.0.0",      "198.19.255.255",		     /* 198.18/15 */
	    "198.51.100.0",    "198.51.100.255",		     /* 198.51.100/24 */
	    "203.0.113.0",     "203.0.113.255",			     /* 203.0.113/24 */
	    "224.0.0.0",       "239.255.255.255",		     /* 224/4 */
	    "240.0.0.0",       "254.255.255.255",		     /* 240/4 */
	    "255.255.255.255",
	};
	static const char *const outside[] = {
	    "1.0.0.0",	       "9.255.255.255",	  "11.0.0.0",	    "100.63.255.255",
	    "100.128.0.0",     "126.255.255.255", "128.0.0.0",	    "169.253.255.255",
	    "169.255.0.0",     "172.15.255.255",  "172.32.0.0",	    "191.255.255.255",
	    "192.0.1.0",       "192.0.3.0",	  "192.88.98.255",  "192.88.100.0",
	    "192.167.255.255", "192.169.0.0",	  "198.17.255.255", "198.20.0.0",
	    "198.51.99.255",   "198.51.101.0",	  "203.0.112.255",  "203.0.114.0",
	    "223.255.255.255", "8.8.8.8",	  "1.1.1.1",	    "93.184.216.34",
	};

	for (size_t i = 0; i < sizeof(inside) / sizeof(inside[0]); i++)
		CHECK_BLOCKED(inside[i]);
	for (size_t i = 0; i < sizeof(outside) / sizeof(outside[0]); i++)
		CHECK_OPEN(outside[i]);
}

static void test_v6_ranges(void)
{
	CHECK_BLOCKED("::");
	CHECK_BLOCKED("::1");
	CHECK_BLOCKED("fe80::1");
	CHECK_BLOCKED("febf:ffff::1");
	CHECK_BLOCKED("fc00::1");
	CHECK_BLOCKED("fd12:3456::1");
	CHECK_BLOCKED("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
	CHECK_BLOCKED("ff02::1");
	CHECK_BLOCKED("ff00::");
	CHECK_BLOCKED("2001:db8::1");
	CHECK_BLOCKED("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff");

	CHECK_OPEN("2606:4700:4700::1111");
	CHECK_OPEN("2a00:1450:4001:80b::200e");
	CHECK_OPEN("fbff:ffff::1");
	CHECK_OPEN("2001:db9::1");
	CHECK_OPEN("2001:db7::1");
	CHECK_OPEN("fe7f::1");
}

/* IPv6 forms that carry an IPv4 address are judged by that address. */
static void test_v6_embedded(void)
{
	/* ::ffff:0:0/96 mapped */
	CHECK_BLOCKED("::ffff:127.0.0.1");
	CHECK_BLOCKED("::ffff:10.1.2.3");
	CHECK_BLOCKED("::ffff:169.254.169.254");
	CHECK_BLOCKED("::ffff:0.0.0.0");
	CHECK_OPEN("::ffff:8.8.8.8");
	/* ::/96 compatible */
	CHECK_BLOCKED("::127.0.0.1");
	CHECK_BLOCKED("::192.168.1.1");
	CHECK_BLOCKED("::0.0.0.2");
	CHECK_OPEN("::8.8.8.8");
	/* 64:ff9b::/96 NAT64 */
	CHECK_BLOCKED("64:ff9b::127.0.0.1");
	CHECK_BLOCKED("64:ff9b::a00:1");
	CHECK_OPEN("64:ff9b::8.8.8.8");
	/* 64:ff9b:1::/48 local-use NAT64 */
	CHECK_BLOCKED("64:ff9b:1::192.168.0.1");
	CHECK_BLOCKED("64:ff9b:1:ffff::10.0.0.1");
	CHECK_OPEN("64:ff9b:1::8.8.4.4");
	/* 2002::/16 6to4: IPv4 in bits 16-47 */
	CHECK_BLOCKED("2002:7f00:1::1");     /* 127.0.0.1 */
	CHECK_BLOCKED("2002:a9fe:a9fe::");   /* 169.254.169.254 */
	CHECK_BLOCKED("2002:c0a8:101:1::1"); /* 192.168.1.1 */
	CHECK_OPEN("2002:808:808::1");	     /* 8.8.8.8 */
	/* 2001::/32 Teredo: client is the inverted last 32 bits */
	CHECK_BLOCKED("2001:0:4136:e378:8000:63bf:80ff:fffe"); /* client 127.0.0.1 */
	CHECK_BLOCKED("2001:0:4136:e378:8000:63bf:f5ff:fffe"); /* client 10.0.0.1 */
	CHECK_BLOCKED("2001:0:a00:1:8000:63bf:f7f7:f7f7");     /* server 10.0.0.1 */
	CHECK_BLOCKED("2001:0:4136:e378:8000:63bf:3fff:fdd2"); /* client 192.0.2.45 */
}

static void test_teredo_public(void)
{
	/* 4136:e378 = 65.54.227.120 server; client bits ~(f7f7:f7f7) = 8.8.8.8 */
	CHECK_OPEN("2001:0:4136:e378:8000:63bf:f7f7:f7f7");
}

static void test_allow_net(void)
{
	struct skw_guard g = {0};

	CHECK(blocked_by(&g, "127.0.0.1"));
	CHECK(skw_guard_allow(&g, "127.0.0.0/8") == 0);
	CHECK(!blocked_by(&g, "127.0.0.1"));
	CHECK(!blocked_by(&g, "127.200.1.1"));
	/* the mapped form reaches the same host */
	CHECK(!blocked_by(&g, "::ffff:127.0.0.1"));
	/* other forms reach a gateway, not the exempted host */
	CHECK(blocked_by(&g, "64:ff9b::127.0.0.1"));
	CHECK(blocked_by(&g, "2002:7f00:1::1"));
	/* only what the exemption covers */
	CHECK(blocked_by(&g, "10.0.0.1"));
	CHECK(blocked_by(&g, "::1"));

	CHECK(skw_guard_allow(&g, "::1") == 0);
	CHECK(!blocked_by(&g, "::1"));
	CHECK(blocked_by(&g, "::2"));

	CHECK(skw_guard_allow(&g, "10.1.0.0/16") == 0);
	CHECK(!blocked_by(&g, "10.1.255.255"));
	CHECK(blocked_by(&g, "10.2.0.0"));
	CHECK(blocked_by(&g, "10.0.255.255"));

	CHECK(skw_guard_allow(&g, "fd00:1234::/32") == 0);
	CHECK(!blocked_by(&g, "fd00:1234:5::1"));
	CHECK(blocked_by(&g, "fd00:1235::1"));

	/* exemptions are checked first: a public address stays open too */
	CHECK(!blocked_by(&g, "8.8.8.8"));
	/* an odd prefix length */
	CHECK(skw_guard_allow(&g, "192.168.128.0/17") == 0);
	CHECK(!blocked_by(&g, "192.168.200.1"));
	CHECK(blocked_by(&g, "192.168.127.255"));
	/* /0 exempts everything of its family */
	{
		struct skw_guard all = {0};

		CHECK(skw_guard_allow(&all, "0.0.0.0/0") == 0);
		CHECK(!blocked_by(&all, "169.254.169.254"));
		CHECK(blocked_by(&all, "fe80::1"));
	}
}

static void test_allow_errors(void)
{
	struct skw_guard g = {0};
	char buf[32];

	CHECK(skw_guard_allow(&g, "") == SKW_EINVAL);
	CHECK(skw_guard_allow(&g, "10.0.0.0/33") == SKW_EINVAL);
	CHECK(skw_guard_allow(&g, "::/129") == SKW_EINVAL);
	CHECK(skw_guard_allow(&g, "10.0.0.0/") == SKW_EINVAL);
	CHECK(skw_guard_allow(&g, "10.0.0.0/-1") == SKW_EINVAL);
	CHECK(skw_guard_allow(&g, "10.0.0.0/8x") == SKW_EINVAL);
	CHECK(skw_guard_allow(&g, "localhost") == SKW_EINVAL);
	CHECK(skw_guard_allow(&g, "10.0.0/8") == SKW_EINVAL);
	CHECK(skw_guard_allow(&g, "/8") == SKW_EINVAL);
	CHECK(skw_guard_allow(&g, "10.0.0.0/+8") == SKW_EINVAL);
	CHECK(g.n_allow == 0);
	for (int i = 0; i < SKW_GUARD_MAX_ALLOW; i++) {
		snprintf(buf, sizeof(buf), "10.%d.0.0/16", i);
		CHECK(skw_guard_allow(&g, buf) == 0);
	}
	CHECK(skw_guard_allow(&g, "10.200.0.0/16") == SKW_EINVAL);
	CHECK(g.n_allow == SKW_GUARD_MAX_ALLOW);
}

static void test_cidr_parse(void)
{
	struct skw_cidr c;

	CHECK(skw_cidr_parse("127.0.0.0/8", &c));
	CHECK(c.family == AF_INET && c.prefix == 8 && c.addr[0] == 127);
	CHECK(skw_cidr_parse("192.0.2.7", &c));
	CHECK(c.family == AF_INET && c.prefix == 32 && c.addr[3] == 7);
	CHECK(skw_cidr_parse("::1/128", &c));
	CHECK(c.family == AF_INET6 && c.prefix == 128 && c.addr[15] == 1);
	CHECK(skw_cidr_parse("fe80::", &c));
	CHECK(c.family == AF_INET6 && c.prefix == 128 && c.addr[0] == 0xfe);
	CHECK(skw_cidr_parse("2001:db8::/32", &c));
	CHECK(c.prefix == 32);
	CHECK(!skw_cidr_parse(NULL, &c));
	CHECK(!skw_cidr_parse("1.2.3.4/ 8", &c));
	CHECK(!skw_cidr_parse("1.2.3.4.5", &c));
	CHECK(!skw_cidr_parse("[::1]", &c));
}

static void test_other_families(void)
{
	struct sockaddr sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_family = AF_UNIX;
	CHECK(skw_guard_is_blocked(NULL, &sa));
	CHECK(skw_guard_is_blocked(NULL, NULL));
	/* no guard at all still refuses private space */
	{
		struct sockaddr_in in4;

		memset(&in4, 0, sizeof(in4));
		in4.sin_family = AF_INET;
		inet_pton(AF_INET, "10.0.0.1", &in4.sin_addr);
		CHECK(skw_guard_is_blocked(NULL, (const struct sockaddr *)&in4));
	}
}

int main(void)
{
	RUN(test_v4_ranges);
	RUN(test_v6_ranges);
	RUN(test_v6_embedded);
	RUN(test_teredo_public);
	RUN(test_allow_net);
	RUN(test_allow_errors);
	RUN(test_cidr_parse);
	RUN(test_other_families);
	return CHECK_DONE();
}
