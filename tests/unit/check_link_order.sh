#!/bin/sh
# libnice and libsofia-sip-ua both export stun_message_length(); the dynamic linker binds every
# call to the first definition in DT_NEEDED order, and libnice's ICE checks break (and can
# crash) when sofia's wins. This test keeps libnice first in the tabphone executable.
set -eu
position() { readelf -d "$1" | sed -n 's/.*NEEDED.*\[\(.*\)\]/\1/p' | grep -n "^$2\.so" | cut -d: -f1; }
nice_pos=$(position "$1" libnice)
sofia_pos=$(position "$1" libsofia-sip-ua)
[ -n "$nice_pos" ] && [ -n "$sofia_pos" ] || { echo "libnice or libsofia-sip-ua missing from NEEDED"; exit 1; }
[ "$nice_pos" -lt "$sofia_pos" ] || { echo "libnice (NEEDED #$nice_pos) must come before libsofia-sip-ua (#$sofia_pos)"; exit 1; }
echo "ok: libnice #$nice_pos before libsofia-sip-ua #$sofia_pos"
