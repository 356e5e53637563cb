/* stub_sip_media: link-level stand-ins for the SIP layer (sip/agent.h, sip/call.h,
 * sip/registration.h), the media layer (media/media.h) and the WebSocket connection
 * (ws_conn_* of http/server.h), for fuzz_session. The signaling code under test (session, hub,
 * call, guard, protocol) is the real one; below it nothing touches the network or threads.
 *
 * The stubs behave like the real modules as far as the signaling layer can tell (validation
 * of URIs, ENDED after a reject from an idle source, connected-only re-INVITE/REFER, ...) and
 * check every string they are handed (strlen, so ASan sees a bad pointer). The harness drives
 * the far end through stub_* below: SIP answers, re-INVITEs, transfers, inbound INVITEs,
 * registration results and media events.
 *
 * Threading: one thread (the fuzzer's); the default GMainContext.
 * Ownership: the stubs keep registries of the live objects (clearly test-only global state);
 * stub_reset frees what the code under test leaked to them between inputs. */
#ifndef TABPHONE_TESTS_FUZZ_STUB_SIP_MEDIA_H
#define TABPHONE_TESTS_FUZZ_STUB_SIP_MEDIA_H

#include <stdbool.h>
#include <stddef.h>

#include "http/server.h"
#include "media/media.h"
#include "sip/agent.h"
#include "sip/call.h"
#include "sip/registration.h"

/* A fake agent (no sockets) and a fake media engine. */
sip_agent *stub_agent_new(void);
void stub_agent_free(sip_agent *agent);
media_engine *stub_media_engine_new(void);
void stub_media_engine_free(media_engine *engine);

/* A fake WebSocket: the text sent to it is dropped (after a JSON validity check); closing it
 * only marks it (the harness then calls the hub's on_close, as http would). */
ws_conn *stub_ws_conn_new(void);
bool stub_ws_conn_closed(const ws_conn *conn);
/* What ws_conn_peer_close_status reports: 1000/1001 = the tab left, 0 = the link dropped. */
void stub_ws_conn_set_peer_close(ws_conn *conn, int status);
void stub_ws_conn_free(ws_conn *conn);

/* The far end. pick chooses among the live objects (modulo their count; most recent first).
 * Each returns false when there was nothing to act on. */
bool stub_sip_event(unsigned pick, sip_call_event_type type, int code, const char *sdp,
                    bool offer, bool final);
bool stub_sip_incoming(sip_agent *agent, unsigned account_pick, const config *cfg,
                       const char *sdp_offer);
bool stub_media_event(unsigned pick, media_event_type type, const char *text);
bool stub_registration_event(unsigned pick, registration_state state, int code);

/* Frees every stub object the code under test did not free (and reports nothing: the harness
 * decides what counts as a leak). Returns how many were left over. */
size_t stub_reset(void);
/* Live stub objects (sip calls + call media + registrations). */
size_t stub_live_objects(void);

#endif
