"""Full-text search, the pure half: what a person typed into a search box, read as a safe
query tree (`query`), and that tree written for each database's full-text index."""
