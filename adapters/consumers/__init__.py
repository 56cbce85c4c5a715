"""The log's consumers at run time: one runner per read model and per processor, each with its
own position, batch size and error state, so that none can stall another."""
