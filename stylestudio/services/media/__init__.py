"""Media: image processing, stored files and their signed URLs, and the orphan sweep."""
