"""P2SC media: push-to-talk floor control, per-frame media encryption, CBR Opus, relay."""
