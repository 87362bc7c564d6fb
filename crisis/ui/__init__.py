"""The Dash user interface: the shell (header, live connection, stores) and its pages."""
