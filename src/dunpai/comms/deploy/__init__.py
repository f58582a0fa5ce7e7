"""One-command private deployments: configuration, service keys, administrator, invites, process."""
