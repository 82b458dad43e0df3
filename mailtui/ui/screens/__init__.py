"""Full screens: the server list and one server."""
