"""The doors into the service: the HTTP API and the ``matcher`` command line."""
