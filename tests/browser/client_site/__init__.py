"""A tiny Django + Channels site serving the browser client and consumers to test it against."""
