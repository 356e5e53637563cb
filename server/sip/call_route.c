/* call_route: see call_route.h for the routing rules. */
#include "sip/call_route.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <sofia-sip/su_alloc.h>
#include <sofia-sip/url.h>

#include "sip/sip_internal.h"


static char *hostport(const char *host, const char *port) {
  return strchr(host, ':') && host[0] != '[' ? g_strdup_printf("[%s]:%s", host, port)
                                             : g_strdup_printf("%s:%s", host, port);
}

static void add_trusted(call_route *route, const char *uri) {
  char host[256], port[16];
  if (route->trusted_count >= 2 ||
      !sip_uri_parse(uri, false, host, sizeof host, port, sizeof port, NULL, 0))
    return;
  route->trusted_host[route->trusted_count] = g_strdup(host);
  route->trusted_port[route->trusted_count] = g_strdup(port);
  route->trusted_count++;
}

/* The registrar of an account: explicit, else the AOR's domain (host[:port] of its URI). */
static char *registrar_uri(const config_account *account) {
  if (account->registrar) return sip_route_uri(account->registrar, account->transport);
  /* The domain as written: without a port sofia resolves it with NAPTR/SRV (RFC 3263). */
  char *target = sip_uri_domain_target(account->uri);
  if (!target) return NULL;
  char *uri = g_str_has_prefix(account->uri, "sips:") ? g_strconcat("sips:", target, NULL)
                                                       : sip_route_uri(target, account->transport);
  g_free(target);
  return uri;
}

static char *our_host(const config *cfg) {
  const char *host = cfg->public_ip ? cfg->public_ip : cfg->sip_listen.host;
  if (!host || !strcmp(host, "0.0.0.0") || !strcmp(host, "::")) return g_strdup("localhost");
  return strchr(host, ':') ? g_strdup_printf("[%s]", host) : g_strdup(host);
}

static char *from_header(const config *cfg, const config_account *account) {
  if (account->direct || !account->uri) {
    char *host = our_host(cfg);
    char *from = g_strdup_printf("<sip:tabphone@%s>", host);
    g_free(host);
    return from;
  }
  if (account->display_name) {
    char *display = g_strescape(account->display_name, NULL);
    char *from = g_strdup_printf("\"%s\" <%s>", display, account->uri);
    g_free(display);
    return from;
  }
  return g_strdup_printf("<%s>", account->uri);
}

int sip_tls_port(const config *cfg) {
  if (cfg->tls_port > 0) return cfg->tls_port;
  return cfg->sip_listen.port < 65535 ? cfg->sip_listen.port + 1 : 0; /* 0: any port */
}

static char *contact_at(const char *user, const char *host, int port, sip_transport transport) {
  bool v6 = strchr(host, ':') != NULL;
  bool udp = transport == SIP_TRANSPORT_UDP;
  return g_strdup_printf(v6 ? "<sip:%s@[%s]:%d%s%s>" : "<sip:%s@%s:%d%s%s>",
                         user && *user ? user : "tabphone", host, port, udp ? "" : ";transport=",
                         udp ? "" : sip_transport_param(transport));
}

char *sip_contact_header(const config *cfg, const char *user, sip_transport transport,
                         const sip_public_address *learned) {
  if (!cfg->public_ip && learned && learned->host[0])
    return contact_at(user, learned->host, learned->port, transport);
  const char *host = cfg->public_ip;
  const char *listen = cfg->sip_listen.host;
  if (!host && listen && strcmp(listen, "0.0.0.0") != 0 && strcmp(listen, "::") != 0)
    host = listen;
  if (!host) return NULL;
  int port = transport == SIP_TRANSPORT_TLS ? sip_tls_port(cfg) : cfg->sip_listen.port;
  return contact_at(user, host, port, transport);
}

char *call_route_contact(const config *cfg, const config_account *account,
                         const sip_public_address *learned) {
  char host[256], port[16], user[128] = "tabphone";
  if (account->uri)
    sip_uri_parse(account->uri, false, host, sizeof host, port, sizeof port, user, sizeof user);
  sip_transport transport = account->transport;
  if (account->uri && g_str_has_prefix(account->uri, "sips:")) transport = SIP_TRANSPORT_TLS;
  return sip_contact_header(cfg, user, transport, learned);
}

call_route *call_route_new(const config *cfg, const config_account *account, const char *to,
                           const sip_public_address *learned, char *err, size_t err_len) {
  char host[256], port[16];
  if (!sip_uri_parse(to, false, host, sizeof host, port, sizeof port, NULL, 0)) {
    snprintf(err, err_len, "call: '%s' is not a SIP address like sip:bob@example.com",
             to ? to : "");
    return NULL;
  }
  call_route *route = g_new0(call_route, 1);
  route->from = from_header(cfg, account);
  route->contact = call_route_contact(cfg, account, learned);
  if (!account->direct) {
    if (account->proxy)
      route->proxy = sip_route_uri(account->proxy, account->transport);
    else if (account->do_register)
      route->proxy = registrar_uri(account);
    if (account->password) {
      if (account->proxy) add_trusted(route, route->proxy);
      char *registrar = registrar_uri(account);
      if (registrar) add_trusted(route, registrar);
      g_free(registrar);
    }
  }
  char phost[256], pport[16];
  if (route->proxy &&
      sip_uri_parse(route->proxy, false, phost, sizeof phost, pport, sizeof pport, NULL, 0))
    route->next_hop = hostport(phost, pport);
  else
    route->next_hop = hostport(host, port);
  return route;
}

void call_route_free(call_route *route) {
  if (!route) return;
  g_free(route->proxy), g_free(route->next_hop), g_free(route->from), g_free(route->contact);
  for (int i = 0; i < route->trusted_count; i++)
    g_free(route->trusted_host[i]), g_free(route->trusted_port[i]);
  g_free(route);
}

static bool same_address(const struct sockaddr *a, const struct sockaddr_storage *b, int port) {
  if (a->sa_family != b->ss_family) return false;
  if (a->sa_family == AF_INET) {
    const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
    return x->sin_addr.s_addr == y->sin_addr.s_addr && ntohs(y->sin_port) == port;
  }
  if (a->sa_family == AF_INET6) {
    const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
    return !memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) &&
           ntohs(y->sin6_port) == port;
  }
  return false;
}

static bool host_matches(const char *host, int port, const struct sockaddr_storage *source) {
  char bare[256];
  size_t n = strlen(host);
  if (host[0] == '[' && n > 2 && n - 2 < sizeof bare) {
    memcpy(bare, host + 1, n - 2), bare[n - 2] = '\0';
  } else {
    snprintf(bare, sizeof bare, "%s", host);
  }
  struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *list = NULL;
  if (getaddrinfo(bare, NULL, &hints, &list) != 0) return false;
  bool match = false;
  for (struct addrinfo *ai = list; ai && !match; ai = ai->ai_next)
    match = same_address(ai->ai_addr, source, port);
  freeaddrinfo(list);
  return match;
}

bool call_route_trusts(const call_route *route, const struct sockaddr_storage *source) {
  for (int i = 0; i < route->trusted_count; i++)
    if (host_matches(route->trusted_host[i], atoi(route->trusted_port[i]), source)) return true;
  return false;
}
