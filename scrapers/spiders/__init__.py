"""One spider per source; the module and the spider's `name` are the source slug."""
