/* call_probe: one call through server/sip/call.c against real SIP peers; prints every
 * sip_call_event as one JSON line on stdout (logs go to stderr). Used by tests/sip/call.test.mjs.
 *
 *   outbound: call_probe --config FILE --account NAME --to sip:bob@127.0.0.1:5080
 *                        [--hangup-after MS] [--cancel-after MS] [--timeout S]
 *   inbound:  call_probe --config FILE --inbound answer|reject:CODE|decline
 *                        [--hangup-after MS] [--timeout S]
 *
 * Outbound sends a canned plain SDP offer. --hangup-after: ms after "answered"/"confirmed" the
 * probe hangs up (default: wait for the far end). --cancel-after: ms after the INVITE the probe
 * hangs up before any answer. Inbound: answer = take the call and answer with the canned SDP
 * after 200 ms; reject:CODE = sip_call_reject(CODE) inside the handler; decline = the handler
 * refuses (480). The probe exits after ENDED (and the agent's shutdown) or --timeout.
 * In-dialog requests (outbound, once answered): --hold-after MS sends a re-INVITE with the
 * canned SDP marked a=sendonly (o= version 2); --resume-after MS (counted from the hold's
 * answer or failure) one marked a=sendrecv (version 3). --refer TARGET [--refer-after MS,
 * default 200] sends REFER to TARGET; once the transfer has its outcome the probe hangs up.
 * Other lines: {"event":"invite_call","epoch_us":N} (just before sip_call_new_outgoing),
 * {"event":"incoming",...}, {"event":"error","message":"..."}, {"event":"exit"}.
 */
#include <glib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/log.h"
#include "sip/agent.h"
#include "sip/call.h"

extern char **environ;

#define SDP_WITH(version, direction)                                                            \
  "v=0\r\no=- 4242 " version " IN IP4 127.0.0.1\r\ns=tabphone-probe\r\nc=IN IP4 127.0.0.1\r\n" \
  "t=0 0\r\nm=audio 40000 RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"                          \
  "a=rtpmap:101 telephone-event/8000\r\na=ptime:20\r\na=" direction "\r\n"

static const char SDP[] = "v=0\r\n"
                          "o=- 4242 1 IN IP4 127.0.0.1\r\n"
                          "s=tabphone-probe\r\n"
                          "c=IN IP4 127.0.0.1\r\n"
                          "t=0 0\r\n"
                          "m=audio 40000 RTP/AVP 0 101\r\n"
                          "a=rtpmap:0 PCMU/8000\r\n"
                          "a=rtpmap:101 telephone-event/8000\r\n"
                          "a=ptime:20\r\n";

typedef struct options {
  const char *config, *account, *to, *inbound, *refer;
  int hangup_after, cancel_after, timeout, hold_after, resume_after, refer_after;
} options;

typedef struct probe {
  options o;
  GMainLoop *loop;
  GMainContext *context;
  config cfg;
  sip_agent *agent;
  sip_call *call;
  gint64 started;
  bool ending;
  bool held; /* our hold re-INVITE was sent */
} probe;

static void print_json_string(const char *text) {
  if (!text) {
    fputs("null", stdout);
    return;
  }
  putchar('"');
  for (const unsigned char *c = (const unsigned char *)text; *c; c++) {
    if (*c == '"' || *c == '\\') printf("\\%c", *c);
    else if (*c < 0x20) printf("\\u%04x", *c);
    else putchar(*c);
  }
  putchar('"');
}

static long elapsed_ms(probe *p) { return (long)((g_get_monotonic_time() - p->started) / 1000); }

static void print_error(const char *message) {
  printf("{\"event\":\"error\",\"message\":");
  print_json_string(message);
  printf("}\n");
  fflush(stdout);
}

static void after(probe *p, unsigned ms, GSourceFunc fn) {
  GSource *source = g_timeout_source_new(ms);
  g_source_set_callback(source, fn, p, NULL);
  g_source_attach(source, p->context);
  g_source_unref(source);
}

static void on_shutdown_done(void *data) { g_main_loop_quit(((probe *)data)->loop); }

static gboolean finish(gpointer data) {
  probe *p = data;
  sip_call_free(p->call);
  p->call = NULL;
  sip_agent_shutdown(p->agent, on_shutdown_done, p);
  return G_SOURCE_REMOVE;
}

static gboolean hang_up(gpointer data) {
  probe *p = data;
  if (p->call && !p->ending) sip_call_hangup(p->call);
  return G_SOURCE_REMOVE;
}

static gboolean on_timeout(gpointer data) {
  probe *p = data;
  print_error("timeout");
  if (!p->ending) {
    p->ending = true;
    finish(p);
  }
  return G_SOURCE_REMOVE;
}

static const char *type_name(sip_call_event_type type) {
  switch (type) {
  case SIP_CALL_PROGRESS: return "progress";
  case SIP_CALL_ANSWERED: return "answered";
  case SIP_CALL_CONFIRMED: return "confirmed";
  case SIP_CALL_REMOTE_SDP: return "remote_sdp";
  case SIP_CALL_REINVITE_FAILED: return "reinvite_failed";
  case SIP_CALL_TRANSFER: return "transfer";
  case SIP_CALL_ENDED: return "ended";
  }
  return "?";
}

static void print_result(const char *what, bool ok) {
  printf("{\"event\":\"%s\",\"ok\":%s}\n", what, ok ? "true" : "false");
  fflush(stdout);
}

static gboolean hold(gpointer data) {
  probe *p = data;
  if (!p->call || p->ending) return G_SOURCE_REMOVE;
  p->held = true;
  print_result("hold_sent", sip_call_update_sdp(p->call, SDP_WITH("2", "sendonly")));
  return G_SOURCE_REMOVE;
}

static gboolean resume(gpointer data) {
  probe *p = data;
  if (p->call && !p->ending)
    print_result("resume_sent", sip_call_update_sdp(p->call, SDP_WITH("3", "sendrecv")));
  return G_SOURCE_REMOVE;
}

static gboolean refer(gpointer data) {
  probe *p = data;
  if (p->call && !p->ending) print_result("refer_sent", sip_call_refer(p->call, p->o.refer));
  return G_SOURCE_REMOVE;
}

/* Starts the in-dialog requests the options ask for. */
static void after_event(probe *p, const sip_call_event *event) {
  bool up = event->type == SIP_CALL_ANSWERED;
  if (up && p->o.hold_after > 0) after(p, (unsigned)p->o.hold_after, hold);
  if (up && p->o.refer) after(p, (unsigned)(p->o.refer_after > 0 ? p->o.refer_after : 200), refer);
  bool hold_done = (event->type == SIP_CALL_REMOTE_SDP && !event->offer) ||
                   event->type == SIP_CALL_REINVITE_FAILED;
  if (hold_done && p->held && p->o.resume_after > 0) {
    p->held = false;
    after(p, (unsigned)p->o.resume_after, resume);
  }
  if (event->type == SIP_CALL_TRANSFER && event->final) after(p, 100, hang_up);
}

static void on_call_event(void *data, const sip_call_event *event) {
  probe *p = data;
  printf("{\"event\":\"call\",\"t\":%ld,\"type\":\"%s\",\"code\":%d,\"reason\":", elapsed_ms(p),
         type_name(event->type), event->code);
  print_json_string(event->reason);
  printf(",\"sdp\":");
  print_json_string(event->sdp);
  printf(",\"offer\":%s,\"final\":%s}\n", event->offer ? "true" : "false",
         event->final ? "true" : "false");
  fflush(stdout);
  after_event(p, event);
  bool up = event->type == SIP_CALL_ANSWERED || event->type == SIP_CALL_CONFIRMED;
  if (up && p->o.hangup_after > 0) after(p, (unsigned)p->o.hangup_after, hang_up);
  if (event->type == SIP_CALL_ENDED && !p->ending) {
    p->ending = true;
    after(p, 0, finish);
  }
}

static gboolean answer(gpointer data) {
  probe *p = data;
  if (p->call && !p->ending) sip_call_answer(p->call, SDP);
  return G_SOURCE_REMOVE;
}

static bool on_incoming(void *data, sip_call *call, const config_account *account,
                        const char *from_uri, const char *from_display, const char *to_uri,
                        const char *sdp_offer) {
  probe *p = data;
  printf("{\"event\":\"incoming\",\"t\":%ld,\"account\":", elapsed_ms(p));
  print_json_string(account->name);
  printf(",\"from\":");
  print_json_string(from_uri);
  printf(",\"display\":");
  print_json_string(from_display);
  printf(",\"to\":");
  print_json_string(to_uri);
  printf(",\"sdp\":");
  print_json_string(sdp_offer);
  printf("}\n");
  fflush(stdout);
  if (p->call) return false; /* one call at a time */
  if (!strncmp(p->o.inbound, "reject:", 7)) {
    sip_call_reject(call, atoi(p->o.inbound + 7), NULL);
    return false;
  }
  if (strcmp(p->o.inbound, "answer") != 0) return false;
  p->call = call;
  sip_call_set_listener(call, on_call_event, p);
  after(p, 200, answer);
  return true;
}

static bool parse_options(int argc, char **argv, options *o) {
  *o = (options){.timeout = 30};
  for (int i = 1; i + 1 < argc; i += 2) {
    const char *a = argv[i], *v = argv[i + 1];
    if (!strcmp(a, "--config")) o->config = v;
    else if (!strcmp(a, "--account")) o->account = v;
    else if (!strcmp(a, "--to")) o->to = v;
    else if (!strcmp(a, "--inbound")) o->inbound = v;
    else if (!strcmp(a, "--hangup-after")) o->hangup_after = atoi(v);
    else if (!strcmp(a, "--cancel-after")) o->cancel_after = atoi(v);
    else if (!strcmp(a, "--timeout")) o->timeout = atoi(v);
    else if (!strcmp(a, "--hold-after")) o->hold_after = atoi(v);
    else if (!strcmp(a, "--resume-after")) o->resume_after = atoi(v);
    else if (!strcmp(a, "--refer")) o->refer = v;
    else if (!strcmp(a, "--refer-after")) o->refer_after = atoi(v);
    else return false;
  }
  return o->config && (o->inbound || (o->account && o->to));
}

static bool start_outbound(probe *p) {
  const config_account *account = config_find_account(&p->cfg, p->o.account);
  if (!account) {
    print_error("no such account");
    return false;
  }
  char err[256];
  sip_call_params params = {.account = account, .to = p->o.to, .sdp_offer = SDP};
  printf("{\"event\":\"invite_call\",\"epoch_us\":%" G_GINT64_FORMAT "}\n", g_get_real_time());
  fflush(stdout);
  p->call = sip_call_new_outgoing(p->agent, &params, on_call_event, p, err, sizeof err);
  if (!p->call) {
    print_error(err);
    return false;
  }
  if (p->o.cancel_after > 0) after(p, (unsigned)p->o.cancel_after, hang_up);
  return true;
}

int main(int argc, char **argv) {
  probe p = {0};
  if (!parse_options(argc, argv, &p.o)) {
    fprintf(stderr, "usage: see the comment at the top of tests/sip/call_probe.c\n");
    return 2;
  }
  char err[512];
  if (!config_load(&p.cfg, p.o.config, NULL, err, sizeof err)) {
    print_error(err);
    return 1;
  }
  log_init(LOG_DEBUG);
  p.context = g_main_context_new();
  p.loop = g_main_loop_new(p.context, FALSE);
  p.started = g_get_monotonic_time();
  p.agent = sip_agent_new(&p.cfg, p.context, err, sizeof err);
  if (!p.agent) {
    print_error(err);
    config_free(&p.cfg);
    return 1;
  }
  sip_agent_set_incoming_handler(p.agent, on_incoming, &p);
  int rc = 0;
  if (!p.o.inbound && !start_outbound(&p)) {
    rc = 1;
    p.ending = true;
    after(&p, 0, finish);
  }
  after(&p, (unsigned)p.o.timeout * 1000u, on_timeout);
  g_main_loop_run(p.loop);
  sip_call_free(p.call);
  sip_agent_free(p.agent);
  g_main_loop_unref(p.loop);
  g_main_context_unref(p.context);
  config_free(&p.cfg);
  printf("{\"event\":\"exit\",\"ms\":%ld}\n", elapsed_ms(&p));
  return rc;
}
