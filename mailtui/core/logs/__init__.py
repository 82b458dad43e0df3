"""Mail and auth logs: following files on the server, parsing and classifying lines."""
