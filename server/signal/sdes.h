/* sdes: one call's SDES-SRTP negotiation toward the SIP side (RFC 4568), per the account's
 * `srtp = off | optional | mandatory`.
 *
 * Outbound: call_sdes_secure_offer adds a=crypto lines to our offer (one per suite, fresh keys)
 * and sets its profile: RTP/SAVP when mandatory; RTP/AVP when optional ("best effort SRTP",
 * as baresip's `mediaenc srtp` and many PBXes do: a far end without SRTP just ignores the
 * lines and answers in clear, where an RTP/SAVP offer would get a 488). call_sdes_on_answer
 * then takes the answer's line for one of our tags, or refuses a clear answer when mandatory.
 * Inbound: call_sdes_on_offer picks the first usable a=crypto of the offer and makes our own key
 * for it (same tag and suite); an offer without one is refused when mandatory (488), an
 * RTP/SAVP offer is refused when the account has srtp = off.
 * After that every SDP of ours in the dialog (answer, hold/resume re-INVITEs, answers to
 * re-offers) goes through call_sdes_secure: the negotiated profile and exactly our one line.
 *
 * Keys come from OpenSSL's RAND_bytes; they are secrets: never logged, wiped by
 * call_sdes_clear. Threading: the control thread (the call's). Ownership: the struct is
 * embedded in the call; call_sdes_clear wipes it. */
#ifndef TABPHONE_SIGNAL_SDES_H
#define TABPHONE_SIGNAL_SDES_H

#include <stdbool.h>
#include <stddef.h>

#include "core/config.h"
#include "media/media.h"
#include "sdp/sdp.h"

enum { CALL_SDES_OFFERED_MAX = 3 };

typedef struct call_sdes {
  config_srtp mode;
  sdp_crypto offered[CALL_SDES_OFFERED_MAX]; /* outbound: our offer's lines */
  size_t offered_count;
  bool active;              /* keys agreed: the SIP leg is SRTP */
  const char *proto;        /* profile of our SDPs once negotiated: "RTP/AVP" or "RTP/SAVP" */
  sdp_crypto local;         /* our line (key we send with) */
  sdp_crypto remote;        /* the far end's line */
} call_sdes;

void call_sdes_init(call_sdes *sdes, config_srtp mode);
void call_sdes_clear(call_sdes *sdes);

/* Outbound offer: replaces *plain (malloc'd, ours) with the secured offer. Does nothing when
 * the mode is off. false + err when keys cannot be made. */
bool call_sdes_secure_offer(call_sdes *sdes, char **plain, char *err, size_t err_len);

/* The far end's answer (or 183 SDP) to our offer. On success *keys_out is filled when the leg
 * is to be keyed (returns true with *keyed true) or the answer is clear and acceptable (*keyed
 * false). false + reason ("srtp_required" and a human err) when the call must end. */
bool call_sdes_on_answer(call_sdes *sdes, const sdp_session *answer, media_sdes *keys_out,
                         bool *keyed, char *err, size_t err_len);

/* The far end's offer (inbound call). Same contract as call_sdes_on_answer; false means 488. */
bool call_sdes_on_offer(call_sdes *sdes, const sdp_session *offer, media_sdes *keys_out,
                        bool *keyed, char *err, size_t err_len);

/* A new SDP from the far end inside the dialog: true with *keys_out when it carries a new key
 * for our tag (a re-key), else false (nothing to do). */
bool call_sdes_on_update(call_sdes *sdes, const sdp_session *sdp, media_sdes *keys_out);

/* Any later SDP of ours: replaces *plain with the negotiated profile and our one line; leaves
 * it alone when SDES is not in use. false + err when rewriting fails. */
bool call_sdes_secure(const call_sdes *sdes, char **plain, char *err, size_t err_len);

/* For `answered`.encryption.sip: "SDES-SRTP AES_CM_128_HMAC_SHA1_80" or NULL when clear. */
const char *call_sdes_suite_name(const call_sdes *sdes);

#endif
