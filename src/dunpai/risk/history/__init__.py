"""A tenant's own history: import it by mapping (``importer``, ``pilot``), replay it through the
engine into the history store (``build``, ``store``), read it back for training, evaluation and
backtests (``dataset``, ``training``)."""
