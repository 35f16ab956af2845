"""Great Expectations suites (``gx/``, one per raw table) and the code that runs them per batch."""
