"""The private/public bridge: relays ciphertext envelopes between two deployments under a policy."""
