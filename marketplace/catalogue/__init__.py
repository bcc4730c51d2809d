"""The catalogue: items for sale and their stock (catalogue-quality) images, which the vector index holds."""
