"""P2SC call signalling (voice/video calls, group calls) over the E2E channel."""
