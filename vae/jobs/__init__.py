"""Work that outlives a request: training subprocesses, plans of several trainings, and the server's
bounded background pool."""
