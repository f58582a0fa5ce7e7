"""Wire protocol (versioned frames), E2E sessions, group sessions, attachments, metadata hygiene."""
