/* uri: the two small SIP URI jobs registrations and calls share — taking a URI apart (host,
 * port, user) and writing the route URI a request is sent through. One place, so a REGISTER
 * and an INVITE of the same account always agree on where they go. */
#include <glib.h>
#include <stdio.h>
#include <string.h>

#include <sofia-sip/url.h>

#include "sip/sip_internal.h"

bool sip_uri_parse(const char *text, bool need_user, char *host, size_t host_len, char *port,
                   size_t port_len, char *user, size_t user_len) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  url_t *url = text ? url_make(home, text) : NULL;
  bool ok = url && (url->url_type == url_sip || url->url_type == url_sips) && url->url_host &&
            *url->url_host && (!need_user || (url->url_user && *url->url_user));
  if (ok) {
    snprintf(host, host_len, "%s", url->url_host);
    snprintf(port, port_len, "%s",
             url->url_port ? url->url_port : url->url_type == url_sips ? "5061" : "5060");
    if (user) snprintf(user, user_len, "%s", url->url_user ? url->url_user : "");
  }
  su_home_deinit(home);
  return ok;
}

char *sip_route_uri(const char *text, sip_transport transport) {
  bool has_scheme = strncmp(text, "sip:", 4) == 0 || strncmp(text, "sips:", 5) == 0;
  bool add_transport = !strstr(text, ";transport=") && transport != SIP_TRANSPORT_UDP;
  return g_strdup_printf("%s%s%s%s", has_scheme ? "" : "sip:", text,
                         add_transport ? ";transport=" : "",
                         add_transport ? sip_transport_param(transport) : "");
}

char *sip_uri_domain_target(const char *aor) {
  su_home_t home[1] = {SU_HOME_INIT(home)};
  url_t *url = aor ? url_make(home, aor) : NULL;
  char *target = NULL;
  if (url && (url->url_type == url_sip || url->url_type == url_sips) && url->url_host) {
    bool v6 = strchr(url->url_host, ':') && url->url_host[0] != '[';
    target = g_strdup_printf("%s%s%s%s%s", v6 ? "[" : "", url->url_host, v6 ? "]" : "",
                             url->url_port ? ":" : "", url->url_port ? url->url_port : "");
  }
  su_home_deinit(home);
  return target;
}
