/* test_nat: sip/nat.h as a specification: what a registrar's Via says about a NAT, and the SIP
 * SDP moved to the address it reported. */
#include <glib.h>
#include <string.h>

#include <sofia-sip/sip_header.h>
#include <sofia-sip/su_alloc.h>

#include "sip/nat.h"

static sip_nat_verdict verdict_of(const char *via_text, sip_public_address *out) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  sip_via_t *via = sip_via_make(home, via_text);
  g_assert_nonnull(via);
  sip_nat_verdict verdict = sip_nat_from_via(via, out);
  su_home_deinit(home);
  return verdict;
}

static void test_udp_nat_seen(void) {
  sip_public_address a;
  g_assert_cmpint(verdict_of("SIP/2.0/UDP 10.0.0.5:5060;received=203.0.113.7;rport=40000", &a), ==,
                  SIP_NAT_SEEN);
  g_assert_cmpstr(a.host, ==, "203.0.113.7");
  g_assert_cmpint(a.port, ==, 40000);
  char text[96];
  sip_public_address_format(&a, text, sizeof text);
  g_assert_cmpstr(text, ==, "203.0.113.7:40000");
}

static void test_udp_port_only(void) {
  /* Same address, another port: a NAT on the host itself (Docker, port-translating firewall). */
  sip_public_address a;
  g_assert_cmpint(verdict_of("SIP/2.0/UDP 10.0.0.5:5060;received=10.0.0.5;rport=6000", &a), ==,
                  SIP_NAT_SEEN);
  g_assert_cmpint(a.port, ==, 6000);
}

static void test_udp_default_port(void) {
  sip_public_address a;
  g_assert_cmpint(verdict_of("SIP/2.0/UDP 10.0.0.5;received=10.0.0.5;rport=5060", &a), ==,
                  SIP_NAT_NONE);
  g_assert_cmpint(verdict_of("SIP/2.0/UDP 10.0.0.5;received=198.51.100.1", &a), ==, SIP_NAT_SEEN);
  g_assert_cmpint(a.port, ==, 5060);
}

static void test_same_address_is_none(void) {
  sip_public_address a;
  g_assert_cmpint(verdict_of("SIP/2.0/UDP 127.0.0.1:5080;received=127.0.0.1;rport=5080", &a), ==,
                  SIP_NAT_NONE);
}

static void test_nothing_said_is_unknown(void) {
  sip_public_address a;
  g_assert_cmpint(verdict_of("SIP/2.0/UDP 10.0.0.5:5060;rport", &a), ==, SIP_NAT_UNKNOWN);
  g_assert_cmpint(verdict_of("SIP/2.0/UDP 10.0.0.5:5060", &a), ==, SIP_NAT_UNKNOWN);
  /* received must be an address (RFC 3261 18.2.1): a name is ignored. */
  g_assert_cmpint(verdict_of("SIP/2.0/UDP 10.0.0.5:5060;received=nat.example.com", &a), ==,
                  SIP_NAT_UNKNOWN);
  g_assert_cmpint(sip_nat_from_via(NULL, &a), ==, SIP_NAT_UNKNOWN);
}

static void test_tcp_ignores_source_port(void) {
  sip_public_address a;
  /* Every TCP connection comes from an ephemeral port: not a NAT. */
  g_assert_cmpint(verdict_of("SIP/2.0/TCP 127.0.0.1:5080;received=127.0.0.1;rport=51234", &a), ==,
                  SIP_NAT_NONE);
  g_assert_cmpint(verdict_of("SIP/2.0/TCP 10.0.0.5:5080;received=203.0.113.7;rport=51234", &a), ==,
                  SIP_NAT_SEEN);
  g_assert_cmpstr(a.host, ==, "203.0.113.7");
  g_assert_cmpint(a.port, ==, 5080);
  g_assert_cmpint(verdict_of("SIP/2.0/TLS 10.0.0.5;received=203.0.113.7;rport=51234", &a), ==,
                  SIP_NAT_SEEN);
  g_assert_cmpint(a.port, ==, 5061);
}

static void test_ipv6(void) {
  sip_public_address a;
  g_assert_cmpint(verdict_of("SIP/2.0/UDP [fd00::5]:5060;received=2001:db8::7;rport=40000", &a), ==,
                  SIP_NAT_SEEN);
  g_assert_cmpstr(a.host, ==, "2001:db8::7");
  char text[96];
  sip_public_address_format(&a, text, sizeof text);
  g_assert_cmpstr(text, ==, "[2001:db8::7]:40000");
  g_assert_cmpint(verdict_of("SIP/2.0/UDP [::1]:5060;received=::1;rport=5060", &a), ==,
                  SIP_NAT_NONE);
}

static const char SDP[] = "v=0\r\n"
                          "o=tabphone 1 2 IN IP4 10.0.0.5\r\n"
                          "s=tabphone\r\n"
                          "c=IN IP4 10.0.0.5\r\n"
                          "t=0 0\r\n"
                          "m=audio 20000 RTP/AVP 0\r\n"
                          "c=IN IP4 10.0.0.5/127\r\n"
                          "a=rtcp:20001\r\n";

static void test_sdp_moved(void) {
  char *moved = sip_nat_sdp(SDP, "203.0.113.7");
  g_assert_cmpstr(moved, ==,
                  "v=0\r\n"
                  "o=tabphone 1 2 IN IP4 203.0.113.7\r\n"
                  "s=tabphone\r\n"
                  "c=IN IP4 203.0.113.7\r\n"
                  "t=0 0\r\n"
                  "m=audio 20000 RTP/AVP 0\r\n"
                  "c=IN IP4 203.0.113.7/127\r\n"
                  "a=rtcp:20001\r\n");
  g_assert_null(sip_nat_sdp(moved, "203.0.113.7")); /* already there: unchanged */
  g_free(moved);
}

static void test_sdp_keeps_hold_and_other_family(void) {
  const char *hold = "v=0\r\no=- 1 2 IN IP4 10.0.0.5\r\nc=IN IP4 0.0.0.0\r\nm=audio 9 RTP/AVP 0\r\n"
                     "a=sendrecv\r\n";
  char *moved = sip_nat_sdp(hold, "203.0.113.7");
  g_assert_cmpstr(moved, ==,
                  "v=0\r\no=- 1 2 IN IP4 203.0.113.7\r\nc=IN IP4 0.0.0.0\r\n"
                  "m=audio 9 RTP/AVP 0\r\na=sendrecv\r\n");
  g_free(moved);
  /* An IPv6 address never replaces an IPv4 one (nor the other way round). */
  g_assert_null(sip_nat_sdp(SDP, "2001:db8::7"));
  const char *v6 = "v=0\no=- 1 2 IN IP6 fd00::5\nc=IN IP6 fd00::5\n";
  moved = sip_nat_sdp(v6, "2001:db8::7");
  g_assert_cmpstr(moved, ==, "v=0\no=- 1 2 IN IP6 2001:db8::7\nc=IN IP6 2001:db8::7\n");
  g_free(moved);
  g_assert_null(sip_nat_sdp(NULL, "203.0.113.7"));
  g_assert_null(sip_nat_sdp(SDP, ""));
}

int main(int argc, char **argv) {
  g_test_init(&argc, &argv, NULL);
  g_test_add_func("/nat/udp-nat-seen", test_udp_nat_seen);
  g_test_add_func("/nat/udp-port-only", test_udp_port_only);
  g_test_add_func("/nat/udp-default-port", test_udp_default_port);
  g_test_add_func("/nat/same-address-is-none", test_same_address_is_none);
  g_test_add_func("/nat/nothing-said-is-unknown", test_nothing_said_is_unknown);
  g_test_add_func("/nat/tcp-ignores-source-port", test_tcp_ignores_source_port);
  g_test_add_func("/nat/ipv6", test_ipv6);
  g_test_add_func("/nat/sdp-moved", test_sdp_moved);
  g_test_add_func("/nat/sdp-keeps-hold-and-other-family", test_sdp_keeps_hold_and_other_family);
  return g_test_run();
}
