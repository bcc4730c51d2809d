"""Sellers' listings, the street photos they upload, and the catalogue images suggested for them."""
