/* placeholder: the sdp module is being written */
