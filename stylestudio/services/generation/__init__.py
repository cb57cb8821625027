"""Generation: starting, queueing, running, ending and showing generations and their jobs."""
