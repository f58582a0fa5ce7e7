"""Several decision workers on one shared state: each entity's online state is a row of the decision
database, locked in the transaction that logs the event and its decision (``docs/scale-out.md``)."""
