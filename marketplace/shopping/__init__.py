"""Buyers' photo searches and the items recommended for them."""
