"""The comms service: accounts, devices, key directory, store-and-forward, groups, blobs."""
